using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Runs;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses;

/// <summary>
/// Fine-Pruning (Liu et al. 2018) with BackdoorBench's defaults: prune the feature units the classifier head reads
/// (the last conv layer's channels, pooled) that are least active on D, in steps of ⌈F·<see cref="PruneStep"/>⌉,
/// as long as the relative ACC drop stays below <see cref="AccRatio"/>; then fine-tune with the pruned units held at zero.
/// </summary>
public sealed record FinePruningOptions
{
    /// <summary>Share of the F feature units pruned per step (BackdoorBench's once_prune_ratio, 0.01: 6 of PreAct-ResNet18's 512).</summary>
    public double PruneStep { get; init; } = 0.01;

    /// <summary>The largest relative drop of ACC on D a pruning may cause (BackdoorBench's acc_ratio).</summary>
    public double AccRatio { get; init; } = 0.1;

    /// <summary>BackdoorBench's fine-tuning: SGD lr 0.01, momentum 0.9, wd 5e-4, cosine over 100 epochs stepped per epoch, batch 256, augmented.</summary>
    public FineTuneOptions FineTune { get; init; } = new() { Epochs = 100, LearningRate = 0.01, SchedulePerEpoch = true };

    public void Validate()
    {
        Check.That(PruneStep > 0 && PruneStep <= 1, $"--prune-step must be in (0, 1], got {PruneStep}.");
        Check.That(AccRatio > 0 && AccRatio < 1, $"--acc-ratio must be strictly between 0 and 1, got {AccRatio}.");
        FineTune.Validate();
    }
}

/// <summary>
/// FP. NOTE: BackdoorBench picks the pruning on the clean TEST set; here ACC is measured on D only (the defender's
/// clean subset, un-augmented, eval mode), so the test set and the trigger play no part in any choice. D is part of
/// the model's training data, so its ACC falls later than test ACC would: the pruning chosen is, if anything, larger.
/// BackdoorBench also masks one unit fewer than its count (seq_sort[0:n-1]); this masks exactly n.
/// Units: finetune (the ranking and the count are recomputed on resume: one eval pass over D).
/// </summary>
public sealed class FinePruning(FinePruningOptions options) : IDefense
{
    public FinePruningOptions Options { get; } = options;

    public string Name => "fp";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var features = FeatureHead(input.Architecture);
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);
        var choice = Choose(features, input.Parameters, input.Clean, input.Normalization, Options);
        var pruned = Prune(input.Parameters, features.HeadName, choice.Columns);
        run.Evaluate(1, $"pruned {choice.Pruned.Length} of {choice.Units}", pruned);

        var unit = new DefenseUnit(1, "finetune", UnitKind.FineTune);
        var steps = new PurificationSteps(input);
        var tuned = run.Weights(unit, checkpoint => steps.FineTune(pruned, Options.FineTune, UnitSeeds.For(input.Seed, 1, UnitSeeds.FineTune), unit, observer,
            checkpoint, hook: weights => new KeepPruned(weights[features.HeadName + ".weight"], choice.Columns)));
        var after = run.Evaluate(1, "fine-tune", tuned);
        return run.Finish(tuned, before, after);
    }

    /// <summary>The architecture as a feature extractor, or an error naming it.</summary>
    public static IFeatureExtractor FeatureHead(IArchitecture architecture) => architecture as IFeatureExtractor
        ?? throw new ArgumentException($"--defense fp prunes the features the classifier head reads; architecture '{architecture.Config.Name}' does not expose them " +
                                       "(use one with a linear head on pooled features: cnn-small, vgg*, preact-resnet18, resnet18, airnet).");

    /// <summary>
    /// What FP chose on D: the units pruned (least active first) out of <paramref name="Units"/>, the head columns they feed
    /// (<paramref name="Columns"/>), and D's ACC (%) before and after pruning.
    /// </summary>
    public sealed record Selection(int[] Pruned, int Units, int[] Columns, double CleanAcc, double PrunedCleanAcc);

    /// <summary>
    /// The units FP ranks: the last conv layer's output channels. The head reads them flattened channel-major, so channel u
    /// feeds columns u·S … u·S+S−1 (S = 1 after a global pool, as in the ResNets and VGG; S = positions for cnn-small's flatten).
    /// A head whose input is not a whole number of channels is pruned per feature (S = 1).
    /// </summary>
    public static (int Units, int PerUnit) UnitsOf(IFeatureExtractor architecture)
    {
        int features = architecture.FeatureSize;
        int channels = architecture.Tensors.LastOrDefault(t => t.Shape.Length == 4 && t.Role == TensorRole.Parameter)?.Shape[0] ?? features;
        int perUnit = channels > 0 && features % channels == 0 ? features / channels : 1;
        return (features / perUnit, perUnit);
    }

    /// <summary>
    /// Ranks the units by their mean activation over D (ascending; the mean over images and a unit's S features) and takes
    /// the largest multiple of the step whose ACC on D is within <see cref="FinePruningOptions.AccRatio"/> of the unpruned
    /// ACC, stopping at the first step beyond it. Masking head columns changes only the head, so every step is scored on
    /// D's features computed once.
    /// </summary>
    public static Selection Choose(IFeatureExtractor architecture, ParameterSet parameters, ImageDataset clean, Normalization normalization, FinePruningOptions options)
    {
        var extracted = KnnMonitor.Extract(x => architecture.Features(parameters, x, ForwardContext.Eval()), clean, normalization);
        float[] f = extracted.Features.ToArray();
        int n = extracted.Labels.Length, features = architecture.FeatureSize;
        var (units, perUnit) = UnitsOf(architecture);
        var mean = new double[units];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < features; j++) mean[j / perUnit] += f[i * features + j];
        // Ascending mean activation; ties by index, so the order is reproducible.
        int[] ranked = [.. Enumerable.Range(0, units).OrderBy(u => mean[u]).ThenBy(u => u)];

        float[] weight = parameters[architecture.HeadName + ".weight"].ToArray(); // (classes, features)
        float[] bias = parameters.Contains(architecture.HeadName + ".bias") ? parameters[architecture.HeadName + ".bias"].ToArray() : new float[weight.Length / features];
        var kept = Enumerable.Repeat(true, features).ToArray();
        double acc0 = Accuracy(f, extracted.Labels, weight, bias, kept), chosenAcc = acc0;
        int step = (int)Math.Ceiling(units * options.PruneStep), chosen = 0;
        for (int count = step; count < units; count += step)
        {
            for (int k = chosen; k < count; k++)
                for (int s = 0; s < perUnit; s++) kept[ranked[k] * perUnit + s] = false;
            double acc = Accuracy(f, extracted.Labels, weight, bias, kept);
            if (acc0 - acc >= options.AccRatio * acc0) break;
            chosen = count;
            chosenAcc = acc;
        }
        int[] pruned = ranked[..chosen];
        int[] columns = [.. pruned.SelectMany(u => Enumerable.Range(u * perUnit, perUnit)).Order()];
        return new Selection(pruned, units, columns, acc0, chosenAcc);
    }

    /// <summary>A copy of <paramref name="parameters"/> with the head's <paramref name="columns"/> set to zero.</summary>
    public static ParameterSet Prune(ParameterSet parameters, string headName, IReadOnlyList<int> columns)
    {
        var copy = parameters.Clone();
        KeepPruned.Zero(copy[headName + ".weight"], columns);
        return copy;
    }

    // ACC (%) of logits = W[:, kept]·f[kept] + b over the rows of f (n, features).
    private static double Accuracy(float[] f, int[] labels, float[] weight, float[] bias, bool[] kept)
    {
        int units = kept.Length, classes = bias.Length, correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            int best = 0;
            double bestLogit = double.NegativeInfinity;
            for (int c = 0; c < classes; c++)
            {
                double logit = bias[c];
                for (int j = 0; j < units; j++) if (kept[j]) logit += (double)weight[c * units + j] * f[i * units + j];
                if (logit > bestLogit) { bestLogit = logit; best = c; }
            }
            if (best == labels[i]) correct++;
        }
        return 100.0 * correct / labels.Length;
    }
}

/// <summary>
/// Holds pruned head columns at zero through fine-tuning: zeroed again after every optimiser step. The function equals
/// PyTorch's prune mask (weight = weight_orig·mask), whose masked entries never reach the output either.
/// </summary>
internal sealed class KeepPruned(Tensor headWeight, IReadOnlyList<int> columns) : ITrainingHook
{
    public void AfterStep(int stepsDone, int totalSteps) => Zero(headWeight, columns);

    /// <summary>Sets <paramref name="columns"/> of <paramref name="weight"/> (classes, features) to zero.</summary>
    public static void Zero(Tensor weight, IReadOnlyList<int> columns)
    {
        var span = weight.Span;
        int width = weight.Shape[1];
        for (int row = 0; row < weight.Shape[0]; row++)
            foreach (int j in columns) span[row * width + j] = 0f;
    }
}

/// <summary>`--defense fp`: BackdoorBench's fine-pruning defaults; the pruning chosen on the clean set D only.</summary>
public sealed class FinePruningPlugin : DefensePlugin
{
    private static readonly FinePruningOptions Defaults = new();
    private static readonly DefenseKnob PruneStep = DefenseKnob.Number("prune_step", Defaults.PruneStep, "Share of the head's input units pruned per step.");
    private static readonly DefenseKnob AccRatio = DefenseKnob.Number("acc_ratio", Defaults.AccRatio, "Largest relative drop of ACC on the clean set D a pruning may cause.");

    public override string Name => "fp";
    public override string Summary => "Fine-Pruning (Liu et al. 2018), BackdoorBench's defaults: prune the least active last-layer units (chosen on D), fine-tune 100 epochs.";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        PruneStep, AccRatio, TrainingKnobs.BatchSize(Defaults.FineTune.BatchSize, "fine-tuning"), TrainingKnobs.FineTuneEpochs(Defaults.FineTune),
        TrainingKnobs.FineTuneLr(Defaults.FineTune), TrainingKnobs.Augment("Fine-tune"),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = Defaults with
        {
            PruneStep = s.Number(PruneStep) ?? Defaults.PruneStep,
            AccRatio = s.Number(AccRatio) ?? Defaults.AccRatio,
            FineTune = TrainingKnobs.FineTune(Defaults.FineTune, s),
        };
        options.Validate();
        return new FinePruning(options);
    }
}
