using System.Globalization;
using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Attacks;

/// <summary>The settings of a Narcissus trigger synthesis (defaults: the authors' where the engine has them, see <see cref="NarcissusSynthesis"/>).</summary>
public sealed record NarcissusSynthesisOptions
{
    /// <summary>The class the trigger points to, in the data and in the surrogate's outputs.</summary>
    public int Target { get; init; }
    /// <summary>L∞ bound of δ on the 0–255 pixel scale (the authors' 16/255).</summary>
    public double Epsilon { get; init; } = NarcissusTrigger.DefaultEpsilon;
    /// <summary>Passes over the target-class images while δ is optimised (the authors' gen_round 1000; the doc's small scale 100–200).</summary>
    public int Rounds { get; init; } = 100;
    /// <summary>Adam's rate on δ, in the authors' normalised units (their RAdam 0.01).</summary>
    public double LearningRate { get; init; } = 0.01;
    /// <summary>Epochs of the surrogate's warm-up fine-tune on the target-class images (the authors' 5; 0 = none).</summary>
    public int WarmupEpochs { get; init; } = 5;
    /// <summary>The warm-up's SGD rate (momentum 0.9). The authors use RAdam at 0.1; the engine has no RAdam.</summary>
    public double WarmupLearningRate { get; init; } = 0.01;
    public int BatchSize { get; init; } = 128;
    public int Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting (by its CLI option).</summary>
    public void Validate()
    {
        if (Target < 0) throw new ArgumentException($"--target must be a class index ≥ 0, got {Target}.");
        if (!(Epsilon > 0 && Epsilon <= 255)) throw new ArgumentException($"--epsilon must be in (0, 255] (0–255 scale), got {F(Epsilon)}.");
        if (Rounds < 1) throw new ArgumentException($"--rounds must be at least 1, got {Rounds}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"--lr must be a positive number, got {F(LearningRate)}.");
        if (WarmupEpochs < 0) throw new ArgumentException($"--warmup-epochs must be ≥ 0, got {WarmupEpochs}.");
        if (!(WarmupLearningRate > 0) || double.IsInfinity(WarmupLearningRate)) throw new ArgumentException($"--warmup-lr must be a positive number, got {F(WarmupLearningRate)}.");
        if (BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {BatchSize}.");
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });

    private static string F(double value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Narcissus's trigger synthesis (Zeng et al., CCS 2023): a copy of a surrogate classifier is fine-tuned on the
/// target-class images alone (warm-up), then a universal δ, started at zero, is optimised with Adam on the same
/// images (augmented as the dataset trains) to minimise CE(f(clip(x + δ)), target) in evaluation mode, projected
/// after every step onto ‖δ‖∞ ≤ ε. δ lives in the authors' normalised units (pixel δ × 2), so the rate and the
/// file match theirs. Both stages run on the one <see cref="TrainingLoop"/>: the warm-up through
/// <see cref="Trainer"/>, the trigger as the loop's only trained tensor. Each stage saves its progress after
/// every pass when given a state path, so a stopped synthesis continues where it was.
/// </summary>
public static class NarcissusSynthesis
{
    /// <param name="Delta">δ on the 0–255 pixel scale (signed), C×H×W.</param>
    /// <param name="LossBefore">Mean CE of the target-class images (unaugmented) towards the target with no trigger, under the warmed-up surrogate.</param>
    /// <param name="LossAfter">The same with δ added.</param>
    public sealed record Result(TriggerImage Delta, double LossBefore, double LossAfter);

    /// <param name="surrogate">The surrogate's weights; not changed (the warm-up fine-tunes a copy).</param>
    /// <param name="images">The images to make the trigger on; only those labelled <see cref="NarcissusSynthesisOptions.Target"/> are used.</param>
    /// <param name="statePath">Prefix of the progress files (".warmup-state", ".trigger-state"); null: no resuming.</param>
    public static Result Run(IArchitecture architecture, ParameterSet surrogate, ImageDataset images, Normalization inputs, Augmentation augmentation,
        NarcissusSynthesisOptions options, string? statePath = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        options.Validate();
        if (options.Target >= architecture.Config.Classes)
            throw new ArgumentException($"--target {options.Target} is outside the surrogate's classes 0..{architecture.Config.Classes - 1}.");
        var targetIndices = Enumerable.Range(0, images.Count).Where(i => images.Labels[i] == options.Target).ToArray();
        if (targetIndices.Length == 0)
            throw new ArgumentException($"--target {options.Target}: the data has no image of that class to make the trigger on.");
        var target = images.Subset(targetIndices);
        var loaderOptions = BatchLoaderOptions.Training(options.BatchSize, options.Seed, augmentation) with { DropLast = false };
        var data = new BatchLoaderSource(new BatchLoader(target, inputs, loaderOptions));
        string key = options.ToJson();

        var warmed = surrogate.Clone();
        if (options.WarmupEpochs > 0) WarmUp(architecture, warmed, options, data, StatePath(statePath, ".warmup-state"), key, progress, cancellation);
        foreach (var p in warmed.Parameters) p.Tensor.RequiresGrad = false;

        var delta = new ParameterSet();
        delta.Add("delta", Tensor.Parameter(new float[target.Channels * target.Height * target.Width], 1, target.Channels, target.Height, target.Width), TensorRole.Parameter);
        var objective = new TriggerObjective(architecture, warmed, inputs, options.Target);
        var evaluation = new BatchLoaderSource(new BatchLoader(target, inputs, BatchLoaderOptions.Evaluation(256)));
        double before = objective.MeanLoss(evaluation, delta);
        float bound = (float)(options.Epsilon / NarcissusTrigger.PixelsPerNormalizedUnit);
        var optimizer = new Adam([delta["delta"]], options.LearningRate);
        var loop = new TrainingLoop
        {
            Stage = "trigger",
            Architecture = architecture,
            Weights = new ModelWeights(delta),
            Objective = objective,
            Optimizer = optimizer,
            Schedule = new ConstantSchedule(options.LearningRate),
            Epochs = options.Rounds,
            Hooks = [new LInfProjection(delta["delta"], bound)],
            ContextForEpoch = _ => ForwardContext.Eval(),
            State = StatePath(statePath, ".trigger-state") is { } path ? new TrainingStateFile(path, delta, null, key + "trigger") : null,
            Progress = progress,
            Cancellation = cancellation,
            LearningRateName = "--lr",
        };
        loop.Run(data);
        double after = objective.MeanLoss(evaluation, delta);
        var pixels = Array.ConvertAll(delta["delta"].ToArray(), v => v * NarcissusTrigger.PixelsPerNormalizedUnit);
        return new Result(new TriggerImage(target.Channels, target.Height, target.Width, pixels), before, after);
    }

    /// <summary>Deletes the progress files of a finished synthesis.</summary>
    public static void DeleteState(string statePath)
    {
        foreach (var suffix in new[] { ".warmup-state", ".trigger-state" })
            if (File.Exists(statePath + suffix)) File.Delete(statePath + suffix);
    }

    private static string? StatePath(string? prefix, string suffix) => prefix is null ? null : prefix + suffix;

    // The surrogate copy, fine-tuned on the target-class images (all labelled target) by the one loop.
    private static void WarmUp(IArchitecture architecture, ParameterSet weights, NarcissusSynthesisOptions options, IBatchSource data,
        string? statePath, string key, IProgress<TrainingProgress>? progress, CancellationToken cancellation)
    {
        var config = new TrainingConfig
        {
            Epochs = options.WarmupEpochs, BatchSize = options.BatchSize, LearningRate = options.WarmupLearningRate, Momentum = 0.9,
            Nesterov = false, WeightDecay = 0, Schedule = "none", Seed = options.Seed,
        };
        var stats = Factories.CreateRunningStats(config, weights);
        var trainer = new Trainer(architecture, weights, config, stats) { Cancellation = cancellation };
        if (statePath is not null) trainer.State = new TrainingStateFile(statePath, weights, stats, key + "warmup");
        if (progress is not null) trainer.Progress += progress.Report;
        trainer.Train(data);
    }

    /// <summary>After every step, δ ← clip(δ, −bound, bound): the projection onto the L∞ ball.</summary>
    private sealed class LInfProjection(Tensor delta, float bound) : ITrainingHook
    {
        public void AfterStep(int stepsDone, int totalSteps)
        {
            var values = delta.Span;
            for (int i = 0; i < values.Length; i++) values[i] = Math.Clamp(values[i], -bound, bound);
        }
    }

    /// <summary>
    /// CE(f(clip(x + δ)), target) with the frozen surrogate in evaluation mode. The batch is normalised,
    /// x̂ = (x − m)/s, so the pixel shift δ/2 (δ in the authors' units) enters as δ·0.5/s per channel, and the
    /// pixel clip to [0, 1] is a clip of x̂ to [−m/s, (1 − m)/s], written lo + relu(x̂ − lo) − relu(x̂ − hi).
    /// </summary>
    private sealed class TriggerObjective(IArchitecture architecture, ParameterSet surrogate, Normalization inputs, int target) : ITrainingObjective
    {
        private readonly float[] _scale = Array.ConvertAll(inputs.Std, s => 0.5f / s);
        private readonly float[] _low = [.. inputs.Mean.Zip(inputs.Std, (m, s) => -m / s)];
        private readonly float[] _high = [.. inputs.Mean.Zip(inputs.Std, (m, s) => (1 - m) / s)];

        public bool IsStateless => true;

        public BatchLoss Loss(IArchitecture _, ParameterSet weights, Batch batch, ForwardContext context)
        {
            var logits = Logits(batch.Images, weights["delta"]);
            var labels = Enumerable.Repeat(target, batch.Count).ToArray();
            return new BatchLoss(Op.CrossEntropy(logits, labels), logits, labels);
        }

        private Tensor Logits(Tensor images, Tensor delta)
        {
            int c = _scale.Length;
            var low = Tensor.FromArray(_low, 1, c, 1, 1);
            var high = Tensor.FromArray(_high, 1, c, 1, 1);
            var shifted = Op.Add(images, Op.Mul(delta, Tensor.FromArray(_scale, 1, c, 1, 1)));
            var clipped = Op.Sub(Op.Add(low, Op.Relu(Op.Sub(shifted, low))), Op.Relu(Op.Sub(shifted, high)));
            return architecture.Forward(surrogate, clipped, ForwardContext.Eval());
        }

        public double MeanLoss(IBatchSource data, ParameterSet delta)
        {
            using var noGrad = Engine.Autograd.GradMode.Disable();
            double sum = 0;
            int count = 0;
            foreach (var batch in data.Batches(0))
                using (batch)
                using (Engine.Memory.TensorScope.Open())
                {
                    sum += Loss(architecture, delta, batch, ForwardContext.Eval()).Loss.Item() * batch.Count;
                    count += batch.Count;
                }
            return sum / count;
        }
    }
}
