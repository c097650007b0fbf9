using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// BTI-DBF's decoupling of benign features, the first step of every round: a mask m = tanh(m̃)/(2 + 1e-7) + 0.5 over the
/// features φ(x) the classifier head reads, learned on D (Adam 0.01, m̃ drawn from N(0, 1)) to minimise
/// CE(head(m⊙φ(x)), y) − CE(head((1−m)⊙φ(x)), y): m keeps the features the true class needs, 1 − m the rest.
/// The classifier is a copy in training mode (the authors' inv_classifier.train()): BN normalises by the batch and the
/// copy's running statistics follow (momentum 0.1), and the generator step then uses that copy in eval mode.
/// </summary>
/// <remarks>
/// NOTE: the authors mask the last convolutional block's output before the average pooling (a mask per channel and
/// position for ResNet-18); here φ is what <see cref="IFeatureExtractor.Features"/> gives, after the global pooling of the
/// ResNets and VGG (a mask per channel) and the flattened map of cnn-small (per channel and position, as theirs).
/// </remarks>
public static class FeatureMaskStep
{
    public const float SquashEpsilon = 1e-7f;
    /// <summary>Names in the unit's tensors: the mask (1, d) and, prefixed, the copy's BN buffers after the step.</summary>
    public const string MaskName = "mask", ClassifierPrefix = "classifier/";

    /// <summary>The step's result: the mask m (1, d), values in (0, 1), and the classifier copy whose BN statistics the step moved.</summary>
    public sealed record Result(Tensor Mask, ParameterSet Classifier)
    {
        /// <summary>The mask and the copy's buffers (its parameters are the model's, unchanged).</summary>
        public ParameterSet ToTensors()
        {
            var set = new ParameterSet();
            set.Add(MaskName, Mask, TensorRole.Parameter);
            foreach (var e in Classifier.Where(e => e.Role == TensorRole.Buffer)) set.Add(ClassifierPrefix + e.Name, e.Tensor, TensorRole.Parameter);
            return set;
        }

        /// <summary>The result from <see cref="ToTensors"/>: the copy is <paramref name="model"/> with the saved buffers.</summary>
        public static Result FromTensors(ParameterSet tensors, ParameterSet model)
        {
            var classifier = model.Clone();
            foreach (var e in classifier.Where(e => e.Role == TensorRole.Buffer))
                tensors[ClassifierPrefix + e.Name].Span.CopyTo(e.Tensor.Span);
            return new Result(tensors[MaskName], classifier);
        }
    }

    /// <summary>m = tanh(m̃)/(2 + 1e-7) + 0.5, in (0, 1).</summary>
    public static Tensor Squash(Tensor raw) => Op.AddScalar(Op.MulScalar(Op.Tanh(raw), 1 / (2 + SquashEpsilon)), 0.5f);

    /// <summary>CE(head(m⊙φ), y) − CE(head((1−m)⊙φ), y) for images (N, C, H, W), mask m (1, d), one forward of φ.</summary>
    public static Tensor Loss(IFeatureExtractor architecture, ParameterSet classifier, Tensor mask, Tensor images, int[] labels, ForwardContext context)
    {
        var features = architecture.Features(classifier, images, context);
        var kept = architecture.Logits(classifier, Op.Mul(mask, features), context);
        var rest = architecture.Logits(classifier, Op.Mul(Op.AddScalar(Op.Neg(mask), 1f), features), context);
        return Op.Sub(Op.CrossEntropy(kept, labels), Op.CrossEntropy(rest, labels));
    }

    /// <param name="model">The classifier as it stands (the round's start); copied, never changed.</param>
    /// <param name="seed">Draws m̃, the batch order, the augmentation and dropout.</param>
    /// <param name="checkpoint">Keeps m̃, Adam and the copy's BN statistics after epochs; null = none.</param>
    public static Result Run(IFeatureExtractor architecture, ParameterSet model, ImageDataset clean, Normalization normalization,
        Augmentation augmentation, int batchSize, BtiOptions options, int seed, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
    {
        var copy = model.Clone();
        var stats = new RunningStatsUpdater(copy);
        var raw = new ParameterSet();
        raw.Add("mask_tanh", Tensor.Parameter(Tensor.Randn(new Random(seed), 1, architecture.FeatureSize).ToArray(), 1, architecture.FeatureSize), TensorRole.Parameter);
        var loader = OptionChecks.TrainingLoader(clean, normalization, batchSize, seed, augmentation);
        new TrainingLoop
        {
            Stage = "BTI feature mask",
            Architecture = architecture,
            Weights = new ModelWeights(raw),
            Objective = new MaskObjective(architecture, copy),
            Optimizer = new Adam([raw["mask_tanh"]], options.MaskLearningRate),
            Schedule = new ConstantSchedule(options.MaskLearningRate),
            Epochs = options.MaskEpochs,
            ContextForEpoch = epoch => ForwardContext.Train(stats, OptionChecks.DropoutStream(seed, epoch)),
            State = checkpoint?.ForTensors(raw, new TrainingStatePart("classifier", copy, stats, null)),
            Progress = progress,
            Cancellation = cancellation,
            LearningRateName = "--bti-mask-lr",
        }.Run(new BatchLoaderSource(loader));
        using var noGrad = Engine.Autograd.GradMode.Disable();
        return new Result(Squash(raw["mask_tanh"]).Clone(), copy.Clone());
    }

    private sealed class MaskObjective(IFeatureExtractor architecture, ParameterSet classifier) : ITrainingObjective
    {
        // m̃'s Adam and the copy's statistics are in the state file; the batches derive from (seed, epoch).
        public bool IsStateless => true;

        public BatchLoss Loss(IArchitecture _, ParameterSet weights, Batch batch, ForwardContext context) =>
            FeatureMaskStep.Loss(architecture, classifier, Squash(weights["mask_tanh"]), batch.Images, batch.Labels, context);
    }
}
