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
/// <item>per backdoored model still to train, the mean training time of the models seen of its attack (CTRL's poisoned
/// pre-training takes hours where a BadEncoder takes minutes), or of all models seen before one of its attack;</item>
/// <item>with "qra": per recipe whose clean model is still to train, once (every attack and defence of the
/// recipe shares it), the mean training time of the clean models seen, or of the backdoored ones before any;</item>
/// <item>the sum over the pending cells, divided by the cells run at once.</item>
/// </list>
/// </summary>
public sealed class PlanEta
{
    private readonly Dictionary<string, (double Sum, int Count)> _defenses = new(StringComparer.Ordinal);
    // Model key → its attack's label (null: the line named none) and training seconds; keyed by model so that the cells sharing one count it once.
    private readonly Dictionary<string, (string? Attack, double Seconds)> _trainingByModel = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _trainingByCleanModel = new(StringComparer.Ordinal);

    /// <summary>Learns from one results line (fields written by <see cref="CellRunner"/>); lines without them are skipped.</summary>
    public void Add(JsonObject line)
    {
        string? attack = line["attack"]?.GetValue<string>();
        double trainedNowSeconds = Learn(line["model"], (key, seconds) => _trainingByModel[key] = (attack, seconds))
            + Learn(line["clean_model"], (key, seconds) => _trainingByCleanModel[key] = seconds);
        if (line["defense"]?.GetValue<string>() is not { } defense || line["wall_time_seconds"]?.GetValue<double>() is not { } wall) return;
        // A resumed cell's wall time covers only its last part.
        if ((line["units_resumed"]?.GetValue<int>() ?? 0) > 0) return;
        double seconds = Math.Max(0, wall - trainedNowSeconds);
        var (sum, count) = _defenses.GetValueOrDefault(defense);
        _defenses[defense] = (sum + seconds, count + 1);
    }

    /// <summary>
    /// Hands a line's model ({key, training: {seconds, trained_now}}) to <paramref name="record"/> (key, seconds) when it
    /// names both; returns the seconds its training took inside this cell's wall time (0 when it came from the cache).
    /// </summary>
    private static double Learn(JsonNode? model, Action<string, double> record)
    {
        var training = model?["training"];
        double seconds = training?["seconds"]?.GetValue<double>() ?? 0;
        if (model?["key"]?.GetValue<string>() is { } key && seconds > 0) record(key, seconds);
        return training?["trained_now"]?.GetValue<bool>() ?? false ? seconds : 0;
    }

    /// <summary>The estimate for <paramref name="pending"/> (cells not finished, those in progress included), or null before any cell has finished.</summary>
    /// <param name="cached">Whether the cache holds the model of a key (a cell's <see cref="Cell.ModelKey"/> or <see cref="Cell.CleanModelKey"/>).</param>
    public TimeSpan? Remaining(IEnumerable<Cell> pending, Func<string, bool> cached, int parallel)
    {
        if (_defenses.Count == 0) return null;
        double overall = _defenses.Values.Sum(d => d.Sum) / _defenses.Values.Sum(d => d.Count);
        double training = _trainingByModel.Count == 0 ? 0 : _trainingByModel.Values.Average(m => m.Seconds);
        var trainingByAttack = _trainingByModel.Values.Where(m => m.Attack is not null)
            .GroupBy(m => m.Attack!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Average(m => m.Seconds), StringComparer.Ordinal);
        // A clean model is trained with its recipe's settings, so before any is seen a backdoored one stands in.
        double cleanTraining = _trainingByCleanModel.Count == 0 ? training : _trainingByCleanModel.Values.Average();
        double seconds = 0;
        var modelsToTrain = new Dictionary<string, string>(StringComparer.Ordinal); // model key → its attack's label
        var cleanModelsToTrain = new HashSet<string>(StringComparer.Ordinal);
        foreach (var cell in pending)
        {
            seconds += _defenses.TryGetValue(cell.Defense.Label, out var d) ? d.Sum / d.Count : overall;
            if (!cached(cell.ModelKey)) modelsToTrain[cell.ModelKey] = cell.Attack.Label;
            if (cell.Qra && !cached(cell.CleanModelKey)) cleanModelsToTrain.Add(cell.CleanModelKey);
        }
        seconds += modelsToTrain.Values.Sum(attack => trainingByAttack.GetValueOrDefault(attack, training)) + cleanModelsToTrain.Count * cleanTraining;
        return TimeSpan.FromSeconds(seconds / Math.Max(1, parallel));
    }
}
