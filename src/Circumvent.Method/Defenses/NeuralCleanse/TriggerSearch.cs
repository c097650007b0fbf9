using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// Neural Cleanse's trigger reverse-engineering for one class: the smallest mask m and a pattern p such that the
/// (frozen, eval-mode) model sends (1 − m)·x + m·p to the class for the clean images x. m and p are squashed
/// tanh(·)/(2 + 1e-7) + 0.5 of free tensors; the loss is CE(f(x'), class) + cost·‖m‖₁ with Adam (β 0.5, 0.9);
/// the cost adapts per epoch (<see cref="TriggerSearchSchedule"/>). Runs in the one <see cref="TrainingLoop"/>,
/// training the trigger's free tensors instead of a model.
/// </summary>
public static class TriggerSearch
{
    /// <param name="seed">Draws the initial mask and pattern (uniform in [0, 1], as the original) and the batch order.</param>
    /// <param name="checkpoint">Keeps the search's progress after epochs (trigger, Adam, cost schedule, best trigger); null = none.</param>
    public static ReversedTrigger Run(IArchitecture architecture, ParameterSet model, ImageDataset clean, Normalization normalization, int target,
        NeuralCleanseOptions options, int seed, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default,
        EpochCheckpoint? checkpoint = null)
    {
        options.Validate();
        if (target < 0 || target >= architecture.Config.Classes)
            throw new ArgumentException($"Trigger search: class {target} is not one of the model's {architecture.Config.Classes} classes.");
        var objective = new TriggerSearchObjective(model.Clone(), normalization, clean.Channels, clean.Height, clean.Width, target, options, new Random(seed));
        // The clean images as stored (no augmentation), reshuffled every epoch.
        var loader = new BatchLoader(clean, normalization, new BatchLoaderOptions { BatchSize = options.TriggerBatchSize, Shuffle = true, Seed = seed });
        objective.BatchesPerEpoch = loader.BatchesPerEpoch;
        var trained = objective.Trigger.Parameters.Select(e => e.Tensor).ToList();
        new TrainingLoop
        {
            Stage = "trigger search",
            Architecture = architecture,
            Weights = new ModelWeights(objective.Trigger),
            Objective = objective,
            Optimizer = new Adam(trained, options.TriggerLearningRate, beta1: 0.5, beta2: 0.9),
            Schedule = new ConstantSchedule(options.TriggerLearningRate),
            Epochs = options.TriggerEpochs,
            ContextForEpoch = _ => ForwardContext.Eval(),
            State = checkpoint?.ForTensors(objective.Trigger, objective.StatePart),
            Progress = progress,
            Cancellation = cancellation,
            LearningRateName = "--nc-lr",
        }.Run(new BatchLoaderSource(loader));
        return objective.Result();
    }
}

/// <summary>The search's loss on one batch and its per-epoch bookkeeping (see <see cref="TriggerSearch"/>).</summary>
internal sealed class TriggerSearchObjective : ITrainingObjective
{
    private const float SquashEpsilon = 1e-7f;
    private readonly ParameterSet _model;
    private readonly int _target, _channels, _height, _width;
    // pattern (0–1 scale) → normalised: p·scale + shift per channel, both (1, C, 1, 1).
    private readonly Tensor _scale, _shift;
    private readonly TriggerSearchSchedule _schedule;
    private int _batchesDone;
    private double _l1Sum;
    private long _hits, _seen;

    public TriggerSearchObjective(ParameterSet model, Normalization normalization, int channels, int height, int width, int target,
        NeuralCleanseOptions options, Random rng)
    {
        if (normalization.Channels != channels)
            throw new ArgumentException($"Normalization has {normalization.Channels} channels, the images have {channels}.");
        _model = model;
        _target = target;
        (_channels, _height, _width) = (channels, height, width);
        _scale = Tensor.FromArray([.. normalization.Std.Select(s => 1 / s)], 1, channels, 1, 1);
        _shift = Tensor.FromArray([.. normalization.Mean.Zip(normalization.Std, (m, s) => -m / s)], 1, channels, 1, 1);
        Trigger = new ParameterSet();
        Trigger.Add("mask_tanh", Tensor.Parameter(Unsquashed(rng, height * width), 1, 1, height, width), TensorRole.Parameter);
        Trigger.Add("pattern_tanh", Tensor.Parameter(Unsquashed(rng, channels * height * width), 1, channels, height, width), TensorRole.Parameter);
        var schedule = TriggerSearchSchedule.Initial(options.InitCost);
        SearchState = new ParameterSet();
        SearchState.Add("schedule", Tensor.FromArray(schedule, schedule.Length), TensorRole.Parameter);
        SearchState.Add("best_mask", Tensor.FromArray(new float[height * width], 1, 1, height, width), TensorRole.Parameter);
        SearchState.Add("best_pattern", Tensor.FromArray(new float[channels * height * width], 1, channels, height, width), TensorRole.Parameter);
        // The schedule reads and writes the saved tensor's own buffer, so a restored state is the live one.
        _schedule = new TriggerSearchSchedule(SearchState["schedule"].Data, options);
    }

    /// <summary>The free tensors Adam trains: "mask_tanh" (1, 1, H, W) and "pattern_tanh" (1, C, H, W).</summary>
    public ParameterSet Trigger { get; }

    /// <summary>The cost schedule's state and the best trigger so far.</summary>
    public ParameterSet SearchState { get; }

    public int BatchesPerEpoch { get; set; }

    public TrainingStatePart StatePart => new("trigger_search", SearchState, null, null);

    public bool Converged => _schedule.Stopped;

    public void BeginEpoch(int epoch)
    {
        _batchesDone = 0;
        _l1Sum = 0;
        _hits = _seen = 0;
    }

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var mask = Squash(weights["mask_tanh"]);         // (1, 1, H, W)
        var pattern = Squash(weights["pattern_tanh"]);   // (1, C, H, W), 0–1 scale
        var normalised = Op.Add(Op.Mul(pattern, _scale), _shift);
        // x' = (1 − m)·x + m·p = x + m·(p − x), on normalised images: (B, C, H, W).
        var stamped = Op.Add(batch.Images, Op.Mul(mask, Op.Sub(normalised, batch.Images)));
        var logits = architecture.Forward(_model, stamped, context);
        var targets = Enumerable.Repeat(_target, batch.Count).ToArray();
        var l1 = Op.Sum(mask); // the mask is positive: its sum is its L1 norm
        _l1Sum += l1.Item();
        _hits += Op.ArgMax(logits).Count(k => k == _target);
        _seen += batch.Count;
        var loss = Op.Add(Op.CrossEntropy(logits, targets), Op.MulScalar(l1, _schedule.Cost));
        return new BatchLoss(loss, logits, targets);
    }

    /// <summary>After the epoch's last step, the trigger as it now stands is judged (as the original does).</summary>
    public void AfterStep(double learningRate)
    {
        if (++_batchesDone < BatchesPerEpoch) return;
        if (_schedule.EndEpoch((double)_hits / _seen, _l1Sum / _batchesDone))
        {
            Current(out var mask, out var pattern);
            mask.CopyTo(SearchState["best_mask"].Data, 0);
            pattern.CopyTo(SearchState["best_pattern"].Data, 0);
        }
    }

    /// <summary>The best trigger that reached the threshold, or the last one when none did.</summary>
    public ReversedTrigger Result()
    {
        if (_schedule.Found)
            return new ReversedTrigger(_target, SearchState["best_mask"].ToArray(), SearchState["best_pattern"].ToArray(), _channels, _height, _width, true);
        Current(out var mask, out var pattern);
        return new ReversedTrigger(_target, mask, pattern, _channels, _height, _width, false);
    }

    private void Current(out float[] mask, out float[] pattern)
    {
        using var noGrad = Engine.Autograd.GradMode.Disable();
        mask = Squash(Trigger["mask_tanh"]).ToArray();
        pattern = Squash(Trigger["pattern_tanh"]).ToArray();
    }

    private static Tensor Squash(Tensor raw) => Op.AddScalar(Op.MulScalar(Op.Tanh(raw), 1 / (2 + SquashEpsilon)), 0.5f);

    /// <summary>Uniform [0, 1) values mapped back through the squash (the original's arctanh((u − 0.5)·(2 − ε))).</summary>
    private static float[] Unsquashed(Random rng, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)Math.Atanh((rng.NextDouble() - 0.5) * (2 - SquashEpsilon));
        return values;
    }
}
