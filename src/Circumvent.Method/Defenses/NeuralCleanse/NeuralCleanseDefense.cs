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
        Record(input, observer, run, report, triggers);
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

    /// <summary>
    /// Reports the norms, indices and flagged classes to the observer, as the run's "neural_cleanse" finding and, with a run
    /// folder, in <see cref="AnomalyFile"/>.
    /// </summary>
    private static void Record(DefenseInput input, IDefenseObserver? observer, ResumableRun run, AnomalyReport report, IReadOnlyList<ReversedTrigger> triggers)
    {
        string flagged = report.Flagged.Count == 0 ? "none" : string.Join(", ", report.Flagged);
        observer?.Progress(new DefenseUnit(1, "anomaly", UnitKind.Tensors),
            $"trigger L1 per class [{string.Join(", ", report.L1.Select(v => v.ToString("F1")))}], median {report.Median:F1}, " +
            $"anomaly index of the smallest {report.MinIndex:F2}; flagged: {flagged}");
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
        run.Record("neural_cleanse", node);
        if (input.RunFolder is not null)
            AtomicText.Write(Path.Combine(input.RunFolder, AnomalyFile), node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}

/// <summary>`--defense nc`: Neural Cleanse with BackdoorBench's defaults.</summary>
public sealed class NeuralCleansePlugin : DefensePlugin
{
    private static readonly NeuralCleanseOptions D = new();
    private static readonly DefenseKnob Epochs = DefenseKnob.Integer("nc_epochs", D.TriggerEpochs, "Trigger-search epochs per class (fewer when it stops early).");
    private static readonly DefenseKnob Lr = DefenseKnob.Number("nc_lr", D.TriggerLearningRate, "Adam rate of the trigger's mask and pattern.");
    private static readonly DefenseKnob InitCost = DefenseKnob.Number("nc_init_cost", D.InitCost, "Starting weight of the mask's L1 norm in the search loss.");
    private static readonly DefenseKnob AttackThreshold = DefenseKnob.Number("nc_attack_threshold", D.AttackSuccessThreshold, "Share of stamped images sent to the class for a trigger to count.");
    private static readonly DefenseKnob Patience = DefenseKnob.Integer("nc_patience", D.Patience, "Epochs above (below) that share before the L1 cost is raised (lowered).");
    private static readonly DefenseKnob EarlyStopPatience = DefenseKnob.Integer("nc_early_stop_patience", D.EarlyStopPatience, "Epochs without a 1% smaller trigger before a search stops.");
    private static readonly DefenseKnob EarlyStop = DefenseKnob.Switch("nc_early_stop", "Run every trigger-search epoch (no early stop).");
    private static readonly DefenseKnob Anomaly = DefenseKnob.Number("nc_anomaly_threshold", D.AnomalyThreshold, "Flag a class below the median whose anomaly index exceeds this.");
    private static readonly DefenseKnob Ratio = DefenseKnob.Number("nc_unlearning_ratio", D.UnlearningRatio, "Share of D stamped with each flagged trigger (true labels) for unlearning.");

    public override string Name => "nc";
    public override string Summary => "Neural Cleanse (NC): a trigger per class, MAD outlier test, unlearning of flagged triggers (BackdoorBench's defaults).";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Epochs, Lr, InitCost, AttackThreshold, Patience, EarlyStopPatience, EarlyStop, Anomaly, Ratio,
        TrainingKnobs.BatchSize(D.TriggerBatchSize, "the trigger search and unlearning"), TrainingKnobs.FineTuneEpochs(D.Unlearning),
        TrainingKnobs.FineTuneLr(D.Unlearning), TrainingKnobs.Augment("Unlearn"),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = D with
        {
            TriggerEpochs = s.Integer(Epochs) ?? D.TriggerEpochs,
            TriggerBatchSize = s.Integer(TrainingKnobs.BatchSizeField) ?? D.TriggerBatchSize,
            TriggerLearningRate = s.Number(Lr) ?? D.TriggerLearningRate,
            InitCost = s.Number(InitCost) ?? D.InitCost,
            AttackSuccessThreshold = s.Number(AttackThreshold) ?? D.AttackSuccessThreshold,
            Patience = s.Integer(Patience) ?? D.Patience,
            EarlyStopPatience = s.Integer(EarlyStopPatience) ?? D.EarlyStopPatience,
            EarlyStop = s.IsOn(EarlyStop),
            AnomalyThreshold = s.Number(Anomaly) ?? D.AnomalyThreshold,
            UnlearningRatio = s.Number(Ratio) ?? D.UnlearningRatio,
            Unlearning = TrainingKnobs.FineTune(D.Unlearning, s),
        };
        options.Validate();
        return new NeuralCleanseDefense(options);
    }
}
