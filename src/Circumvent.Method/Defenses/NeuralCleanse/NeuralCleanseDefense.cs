using Circumvent.Method.Runs;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// Neural Cleanse (Wang et al. 2019) as BackdoorBench runs it: reverse-engineer a trigger for every class on D
/// (<see cref="TriggerSearch"/>), flag the classes whose trigger is abnormally small (<see cref="AnomalyIndex"/>), and
/// when any is flagged fine-tune θ on D with part of it stamped by the flagged triggers under true labels
/// (<see cref="UnlearningSet"/>). Nothing flagged: θ is returned unchanged. It sees only D: never the test set or the
/// attack's trigger. Units: one trigger search per class ("round1.trigger-classK"), then "round1.unlearn".
/// </summary>
public sealed class NeuralCleanseDefense(NeuralCleanseOptions options) : IDefense
{
    /// <summary>The outlier test's result, written beside the units in a run folder.</summary>
    public const string AnomalyFile = "anomaly.json";

    public NeuralCleanseOptions Options { get; } = options;

    public string Name => "nc";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);

        var triggers = new List<ReversedTrigger>();
        for (int target = 0; target < input.Architecture.Config.Classes; target++)
        {
            var unit = new DefenseUnit(1, $"trigger-class{target}", UnitKind.Tensors);
            int seed = UnitSeeds.For(input.Seed, target + 1, UnitSeeds.TriggerSearch);
            int c = target;
            var tensors = run.Tensors(unit, checkpoint => TriggerSearch.Run(input.Architecture, input.Parameters, input.Clean, input.Normalization, c,
                Options, seed, PurificationSteps.Progress(unit, observer), input.Cancellation, checkpoint).ToTensors());
            triggers.Add(ReversedTrigger.FromTensors(target, tensors));
        }

        var report = AnomalyIndex.Detect([.. triggers.Select(t => t.L1)], Options.AnomalyThreshold);
        Record(input, observer, report, triggers);
        if (report.Flagged.Count == 0) return run.Finish(input.Parameters.Clone(), before, before);

        var unlearning = UnlearningSet.Build(input.Clean, [.. report.Flagged.Select(c => triggers[c])], Options.UnlearningRatio,
            UnitSeeds.For(input.Seed, 1, UnitSeeds.UnlearningSubset));
        var steps = new PurificationSteps(input with { Clean = unlearning });
        var tuneUnit = new DefenseUnit(1, "unlearn", UnitKind.FineTune);
        var tuned = run.Weights(tuneUnit, checkpoint =>
            steps.FineTune(input.Parameters, Options.Unlearning, UnitSeeds.For(input.Seed, 1, UnitSeeds.FineTune), tuneUnit, observer, checkpoint));
        var after = run.Evaluate(1, "unlearn", tuned);
        return run.Finish(tuned, before, after);
    }

    /// <summary>Reports the norms, indices and flagged classes to the observer and, with a run folder, in <see cref="AnomalyFile"/>.</summary>
    private static void Record(DefenseInput input, IDefenseObserver? observer, AnomalyReport report, IReadOnlyList<ReversedTrigger> triggers)
    {
        string flagged = report.Flagged.Count == 0 ? "none" : string.Join(", ", report.Flagged);
        observer?.Progress(new DefenseUnit(1, "anomaly", UnitKind.Tensors),
            $"trigger L1 per class [{string.Join(", ", report.L1.Select(v => v.ToString("F1")))}], median {report.Median:F1}, " +
            $"anomaly index of the smallest {report.MinIndex:F2}; flagged: {flagged}");
        if (input.RunFolder is null) return;
        var node = new JsonObject
        {
            ["l1"] = new JsonArray([.. report.L1.Select(v => JsonValue.Create(v))]),
            ["found"] = new JsonArray([.. triggers.Select(t => JsonValue.Create(t.Found))]),
            ["median"] = report.Median,
            ["mad"] = report.Mad,
            ["anomaly_index"] = new JsonArray([.. report.Index.Select(v => double.IsFinite(v) ? JsonValue.Create(v) : null)]),
            ["min_anomaly_index"] = double.IsFinite(report.MinIndex) ? report.MinIndex : null,
            ["flagged"] = new JsonArray([.. report.Flagged.Select(c => JsonValue.Create(c))]),
        };
        AtomicText.Write(Path.Combine(input.RunFolder, AnomalyFile), node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
