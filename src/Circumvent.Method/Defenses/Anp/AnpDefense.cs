using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Method.Evaluation;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.Anp;

/// <summary>
/// Adversarial Neuron Pruning (Wu and Wang 2021) as BackdoorBench runs it, on D only: optimise a mask per BN neuron
/// against adversarial neuron noise (<see cref="MaskOptimisation"/>), then set γ to 0 for every neuron whose mask is
/// at most a threshold — fixed by <see cref="AnpOptions.PruneThreshold"/>, or chosen on D (<see cref="PruningThreshold"/>).
/// Units: "round1.neuron-masks" (the masks), "round1.prune" (the pruned model).
/// </summary>
public sealed class AnpDefense(AnpOptions options) : IDefense
{
    public AnpOptions Options { get; } = options;

    public string Name => "anp";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        NeuronMasks.BatchNormPrefixes(input.Parameters); // a network without BN is refused before anything is written
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);

        var masksUnit = new DefenseUnit(1, "neuron-masks", UnitKind.Tensors);
        int seed = UnitSeeds.For(input.Seed, 1, UnitSeeds.NeuronMasks);
        var masks = run.Tensors(masksUnit, checkpoint => MaskOptimisation.Run(input.Architecture, input.Parameters, input.Clean, input.Normalization,
            input.Augmentation, Options, seed, PurificationSteps.Progress(masksUnit, observer), input.Cancellation, checkpoint));

        var pruneUnit = new DefenseUnit(1, "prune", UnitKind.Point);
        var pruned = run.Weights(pruneUnit, _ => Prune(input, masks, pruneUnit, observer, run));
        var after = run.Evaluate(1, "prune", pruned);
        return run.Finish(pruned, before, after);
    }

    // Prunes by the fixed threshold, or by the one chosen on D; the choice is reported and kept as the run's "anp" finding.
    private ParameterSet Prune(DefenseInput input, ParameterSet masks, DefenseUnit unit, IDefenseObserver? observer, ResumableRun run)
    {
        int neurons = masks.Sum(m => m.Tensor.Length);
        if (Options.PruneThreshold is { } fixedThreshold)
        {
            var (model, count) = NeuronMasks.Prune(input.Parameters, masks, fixedThreshold);
            observer?.Progress(unit, $"threshold {fixedThreshold:F2} (fixed): {count} of {neurons} neurons pruned");
            run.Record("anp", new JsonObject { ["threshold"] = fixedThreshold, ["chosen_on_clean_data"] = false, ["pruned"] = count, ["neurons"] = neurons });
            return model;
        }
        double baseAccuracy = CleanAccuracy(input, input.Parameters);
        var trials = Options.Thresholds().Select(t =>
        {
            var (model, count) = NeuronMasks.Prune(input.Parameters, masks, t);
            return new ThresholdTrial(t, count, CleanAccuracy(input, model));
        }).ToArray();
        var chosen = PruningThreshold.Choose(trials, baseAccuracy, Options.AccuracyDrop);
        observer?.Progress(unit, $"accuracy on D unpruned {baseAccuracy:F2}%; " +
            string.Join(", ", trials.Select(t => $"≤{t.Threshold:F2}: {t.Pruned} pruned, {t.Accuracy:F2}%")) +
            $"; chosen: {(chosen is null ? "none (nothing pruned)" : chosen.Threshold.ToString("F2"))}");
        run.Record("anp", new JsonObject
        {
            ["threshold"] = chosen?.Threshold, ["chosen_on_clean_data"] = true, ["pruned"] = chosen?.Pruned ?? 0, ["neurons"] = neurons,
            ["clean_accuracy_unpruned"] = Math.Round(baseAccuracy, 4),
            ["trials"] = new JsonArray([.. trials.Select(t => (JsonNode)new JsonObject
                { ["threshold"] = t.Threshold, ["pruned"] = t.Pruned, ["clean_accuracy"] = Math.Round(t.Accuracy, 4) })]),
        });
        return chosen is null ? input.Parameters.Clone() : NeuronMasks.Prune(input.Parameters, masks, chosen.Threshold).Pruned;
    }

    /// <summary>Top-1 accuracy (%) on D as stored (eval mode, no augmentation).</summary>
    private static double CleanAccuracy(DefenseInput input, ParameterSet parameters)
    {
        var predicted = BackdoorMetrics.Predict(input.Architecture, parameters, input.Clean, input.Normalization);
        return 100.0 * predicted.Where((p, i) => p == input.Clean.Labels[i]).Count() / predicted.Length;
    }
}

/// <summary>`--defense anp`: Adversarial Neuron Pruning with BackdoorBench's defaults, its threshold chosen on D.</summary>
public sealed class AnpPlugin : DefensePlugin
{
    private static readonly AnpOptions D = new();
    private static readonly DefenseKnob Epsilon = DefenseKnob.Number("anp_eps", D.Epsilon, "Bound ε of the multiplicative neuron noise.");
    private static readonly DefenseKnob Steps = DefenseKnob.Integer("anp_steps", D.NoiseSteps, "Signed-gradient ascent steps on the noise per batch.");
    private static readonly DefenseKnob Alpha = DefenseKnob.Number("anp_alpha", D.Alpha, "Weight α of the clean loss (1 − α: the loss under noise).");
    private static readonly DefenseKnob Iterations = DefenseKnob.Integer("anp_iterations", D.Iterations, "Mask optimisation steps.");
    private static readonly DefenseKnob Lr = DefenseKnob.Number("anp_lr", D.MaskLearningRate, "SGD rate of the masks (the ANP paper: 0.2).");
    private static readonly DefenseKnob Threshold = new("anp_threshold", "--anp-threshold", KnobKind.Number, "chosen on D",
        "Prune neurons whose mask is at most this (the ANP paper: 0.2); not given: the largest grid value within --anp-acc-drop on D.");
    private static readonly DefenseKnob Step = DefenseKnob.Number("anp_threshold_step", D.ThresholdStep, "Spacing of the threshold grid.");
    private static readonly DefenseKnob Max = DefenseKnob.Number("anp_max_threshold", D.MaxThreshold, "Largest threshold of the grid.");
    private static readonly DefenseKnob Drop = DefenseKnob.Number("anp_acc_drop", D.AccuracyDrop, "Largest relative accuracy drop on D a chosen threshold may cost.");

    public override string Name => "anp";
    public override string Summary => "Adversarial Neuron Pruning (ANP): BN neuron masks against adversarial neuron noise, pruned by a threshold chosen on D.";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Epsilon, Steps, Alpha, Iterations, Lr, Threshold, Step, Max, Drop,
        TrainingKnobs.BatchSize(D.BatchSize, "the mask optimisation"), TrainingKnobs.Augment("Optimise the masks"),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = D with
        {
            Epsilon = s.Number(Epsilon) ?? D.Epsilon,
            NoiseSteps = s.Integer(Steps) ?? D.NoiseSteps,
            Alpha = s.Number(Alpha) ?? D.Alpha,
            Iterations = s.Integer(Iterations) ?? D.Iterations,
            MaskLearningRate = s.Number(Lr) ?? D.MaskLearningRate,
            PruneThreshold = s.Number(Threshold),
            ThresholdStep = s.Number(Step) ?? D.ThresholdStep,
            MaxThreshold = s.Number(Max) ?? D.MaxThreshold,
            AccuracyDrop = s.Number(Drop) ?? D.AccuracyDrop,
            BatchSize = s.Integer(TrainingKnobs.BatchSizeField) ?? D.BatchSize,
            Augment = s.IsOn(TrainingKnobs.AugmentField),
        };
        options.Validate();
        return new AnpDefense(options);
    }
}
