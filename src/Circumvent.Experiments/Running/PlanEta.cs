using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;

namespace Circumvent.Experiments.Running;

/// <summary>
/// Time left in a plan, from what its finished cells cost — this run's and earlier runs' lines of the
/// same results file, so a resumed plan has an estimate at once. Cells differ by two orders of
/// magnitude (no defence: seconds; TSC: a quarter of an hour; training a model: minutes, once per
/// model), so a plain "elapsed / done × left" is far off. Instead:
/// <list type="bullet">
/// <item>per defence label, the mean wall time of its cells that ran whole (not resumed), the model's
/// training taken out; a label not seen yet gets the mean over all labels;</item>
/// <item>per backdoored model still to train, the mean training time of the models seen;</item>
/// <item>the sum over the pending cells, divided by the cells run at once.</item>
/// </list>
/// </summary>
public sealed class PlanEta
{
    private readonly Dictionary<string, (double Sum, int Count)> _defenses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _trainingByModel = new(StringComparer.Ordinal);

    /// <summary>Learns from one results line (fields written by <see cref="CellRunner"/>); lines without them are skipped.</summary>
    public void Add(JsonObject line)
    {
        var training = line["model"]?["training"];
        double trainingSeconds = training?["seconds"]?.GetValue<double>() ?? 0;
        bool trainedNow = training?["trained_now"]?.GetValue<bool>() ?? false;
        if (line["model"]?["key"]?.GetValue<string>() is { } model && trainingSeconds > 0)
            _trainingByModel[model] = trainingSeconds;
        if (line["defense"]?.GetValue<string>() is not { } defense || line["wall_time_seconds"]?.GetValue<double>() is not { } wall) return;
        // A resumed cell's wall time covers only its last part.
        if ((line["units_resumed"]?.GetValue<int>() ?? 0) > 0) return;
        double seconds = Math.Max(0, wall - (trainedNow ? trainingSeconds : 0));
        var (sum, count) = _defenses.GetValueOrDefault(defense);
        _defenses[defense] = (sum + seconds, count + 1);
    }

    /// <summary>The estimate for <paramref name="pending"/> (cells not finished, those in progress included), or null before any cell has finished.</summary>
    /// <param name="modelReady">Whether a cell's backdoored model is already in the cache.</param>
    public TimeSpan? Remaining(IEnumerable<Cell> pending, Func<Cell, bool> modelReady, int parallel)
    {
        if (_defenses.Count == 0) return null;
        double overall = _defenses.Values.Sum(d => d.Sum) / _defenses.Values.Sum(d => d.Count);
        double training = _trainingByModel.Count == 0 ? 0 : _trainingByModel.Values.Average();
        double seconds = 0;
        var modelsToTrain = new HashSet<string>(StringComparer.Ordinal);
        foreach (var cell in pending)
        {
            seconds += _defenses.TryGetValue(cell.Defense.Label, out var d) ? d.Sum / d.Count : overall;
            if (!modelReady(cell)) modelsToTrain.Add(cell.ModelKey);
        }
        seconds += modelsToTrain.Count * training;
        return TimeSpan.FromSeconds(seconds / Math.Max(1, parallel));
    }
}
