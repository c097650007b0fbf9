using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.Anp;

/// <summary>
/// ANP's mask optimisation (Wu and Wang's optimize_mask, as BackdoorBench runs it): the BN neuron masks are trained on D
/// in training mode (batch statistics; the model's running statistics are never written) by SGD with momentum 0.9, for
/// <see cref="AnpOptions.Iterations"/> batches, and clipped to [0, 1] after every step (<see cref="AnpObjective"/>).
/// Runs in the one <see cref="TrainingLoop"/>, training the masks instead of the model.
/// </summary>
/// <remarks>
/// The original draws each batch with replacement; this loop reshuffles D every epoch and stops after the same number of
/// batches — the same expected data per step.
/// </remarks>
public static class MaskOptimisation
{
    /// <param name="seed">Draws the batch order, the augmentation and the neuron noise.</param>
    /// <param name="checkpoint">Keeps the masks and their momentum after epochs; null = none.</param>
    /// <returns>The trained masks, "PREFIX.neuron_mask" per BN layer, values in [0, 1].</returns>
    public static ParameterSet Run(IArchitecture architecture, ParameterSet model, ImageDataset clean, Normalization normalization,
        Augmentation? datasetAugmentation, AnpOptions options, int seed, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
    {
        options.Validate();
        if (clean.Count < 2) throw new ArgumentException($"ANP needs at least 2 clean images, got {clean.Count}.");
        var frozen = model.Clone();
        var masks = NeuronMasks.Ones(frozen, NeuronMasks.BatchNormPrefixes(frozen));
        var objective = new AnpObjective(frozen, masks, options, seed);
        var loader = OptionChecks.TrainingLoader(clean, normalization, options.BatchSize, seed,
            OptionChecks.AugmentationFor(options.Augment, datasetAugmentation, clean.Height));
        int epochs = (options.Iterations + loader.BatchesPerEpoch - 1) / loader.BatchesPerEpoch;
        new TrainingLoop
        {
            Stage = "neuron masks",
            Architecture = architecture,
            Weights = new ModelWeights(masks),
            Objective = objective,
            Optimizer = new Sgd([.. masks.Select(e => e.Tensor)], options.MaskLearningRate, momentum: 0.9),
            Schedule = new ConstantSchedule(options.MaskLearningRate),
            Epochs = epochs,
            TotalSteps = options.Iterations,
            // Training mode with no statistics observer: BN normalises by the batch, the running buffers stay as they are.
            ContextForEpoch = epoch => ForwardContext.Train(null, OptionChecks.DropoutStream(seed, epoch)),
            State = checkpoint?.ForTensors(masks, null),
            Progress = progress,
            Cancellation = cancellation,
            LearningRateName = "--anp-lr",
        }.Run(new BatchLoaderSource(loader));
        return masks.Clone();
    }
}

/// <summary>
/// ANP's loss on one batch. With ε > 0: draw δ, ξ uniform in [−ε, ε], take <see cref="AnpOptions.NoiseSteps"/> steps of
/// signed-gradient ascent on the cross-entropy of the noisy network (each of size ε / steps, projected back onto
/// [−ε, ε]), then return α·CE(masked network) + (1 − α)·CE(masked network under the noise); the loop's optimiser
/// then steps the masks, which are clipped to [0, 1] after it. The masks are the step's weights.
/// </summary>
/// <remarks>
/// NOTE: the original code does not project the noise after its step, so one step from a uniform start can reach 2ε;
/// the ANP paper bounds the perturbation by ε, and so do we.
/// </remarks>
internal sealed class AnpObjective(ParameterSet model, ParameterSet masks, AnpOptions options, int seed) : ITrainingObjective
{
    private Random _rng = new(seed);

    /// <summary>The noise of the last batch after its ascent (for tests); null before the first or with ε = 0.</summary>
    public ParameterSet? LastNoise { get; private set; }

    /// <summary>The noise stream restarts from (seed, epoch), so a resumed run draws what the uninterrupted one did.</summary>
    public void BeginEpoch(int epoch) => _rng = new Random(BatchLoader.MixSeed(seed, epoch, -5));

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        Tensor? robust = null;
        if (options.Epsilon > 0)
        {
            var noise = AdversarialNoise(architecture, weights, batch, context);
            robust = Op.CrossEntropy(architecture.Forward(NeuronMasks.Apply(model, weights, noise), batch.Images, context), batch.Labels);
        }
        var logits = architecture.Forward(NeuronMasks.Apply(model, weights, null), batch.Images, context);
        var natural = Op.CrossEntropy(logits, batch.Labels);
        // With ε = 0 the robust term is 0, as BackdoorBench's loss_rob = 0.0: the loss is still α·CE, not CE.
        var loss = robust is null ? Op.MulScalar(natural, (float)options.Alpha)
            : Op.Add(Op.MulScalar(natural, (float)options.Alpha), Op.MulScalar(robust, (float)(1 - options.Alpha)));
        return new BatchLoss(loss, logits, batch.Labels);
    }

    /// <summary>The masks leave the optimiser's step clipped to [0, 1].</summary>
    public void AfterStep(double learningRate)
    {
        foreach (var m in masks)
        {
            var values = m.Tensor.Span;
            for (int i = 0; i < values.Length; i++) values[i] = Math.Clamp(values[i], 0f, 1f);
        }
    }

    private ParameterSet AdversarialNoise(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        float epsilon = (float)options.Epsilon, step = (float)(options.Epsilon / options.NoiseSteps);
        var noise = NeuronMasks.RandomNoise(weights, options.Epsilon, _rng);
        for (int s = 0; s < options.NoiseSteps; s++)
        {
            var loss = Op.CrossEntropy(architecture.Forward(NeuronMasks.Apply(model, weights, noise), batch.Images, context), batch.Labels);
            loss.Backward();
            foreach (var n in noise)
            {
                var values = n.Tensor.Span;
                var grad = n.Tensor.Grad!.Span;
                for (int i = 0; i < values.Length; i++) values[i] = Math.Clamp(values[i] + step * MathF.Sign(grad[i]), -epsilon, epsilon);
                n.Tensor.ZeroGrad();
            }
        }
        // The ascent's backward also reached the masks; only the loss returned below may move them.
        weights.ZeroGrad();
        LastNoise = noise;
        return noise;
    }
}
