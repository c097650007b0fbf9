using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Engine.Optim;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// The generator's weights and, after a generator step, its Adam state: the authors create the generator's Adam once,
/// after pre-training, so its moments carry from one round's generator step to the next. A unit saves both as tensors
/// (the step count as "adam_steps", a float: exact below 2^24 steps).
/// </summary>
public sealed record GeneratorState(ParameterSet Weights, OptimizerState? Adam)
{
    private const string WeightPrefix = "generator/", AdamPrefix = "adam/", StepsName = "adam_steps";

    public ParameterSet ToTensors()
    {
        var set = new ParameterSet();
        foreach (var e in Weights) set.Add(WeightPrefix + e.Name, e.Tensor, e.Role);
        if (Adam is null) return set;
        foreach (var (key, values) in Adam.Buffers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            set.Add(AdamPrefix + key, Tensor.FromArray((float[])values.Clone(), values.Length), TensorRole.Parameter);
        set.Add(StepsName, Tensor.FromArray([Adam.Steps], 1), TensorRole.Parameter);
        return set;
    }

    public static GeneratorState FromTensors(ParameterSet tensors)
    {
        var weights = new ParameterSet();
        var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var e in tensors)
        {
            if (e.Name.StartsWith(WeightPrefix, StringComparison.Ordinal)) weights.Add(e.Name[WeightPrefix.Length..], e.Tensor, e.Role);
            else if (e.Name.StartsWith(AdamPrefix, StringComparison.Ordinal)) buffers[e.Name[AdamPrefix.Length..]] = e.Tensor.ToArray();
        }
        var adam = tensors.Contains(StepsName) ? new OptimizerState((long)tensors[StepsName].ToArray()[0], buffers) : null;
        return new GeneratorState(weights, adam);
    }
}

/// <summary>
/// BTI-DBF's backdoor generator G (a <see cref="UNet"/> on normalised images): its pre-training, its step in every round,
/// and the target class it points at. The classifier is frozen throughout (eval mode); only G trains, by Adam
/// (lr 1e-3, β 0.9/0.999, torch's defaults), on shuffled, augmented batches of D.
/// </summary>
public static class BackdoorGenerator
{
    /// <summary>MSE as torch's MSELoss: the mean of the squared differences over every element.</summary>
    public static Tensor Mse(Tensor a, Tensor b) => Op.Mean(Op.Square(Op.Sub(a, b)));

    /// <summary>G(x) without a graph, for images (N, C, H, W).</summary>
    public static Tensor Generate(UNet unet, ParameterSet weights, Tensor images)
    {
        using var noGrad = GradMode.Disable();
        return unet.Forward(weights, images);
    }

    /// <summary>
    /// The authors' pre-training loss (`pretrain.py`) on one batch: G(x) should keep x's image, features and prediction.
    /// CE(softmax(f(x)), softmax(f(G(x)))) — torch's cross-entropy with probabilities as targets, the first softmax taken
    /// as logits (sic) — + MSE(φ(x), φ(G(x))) + w·MSE(x, G(x)), w = 100 while MSE(x, G(x)) &gt; <paramref name="normBound"/> (0.1), else 0.01.
    /// </summary>
    public static Tensor PretrainLoss(IFeatureExtractor architecture, ParameterSet classifier, UNet unet, ParameterSet generator, Tensor images, double normBound)
    {
        var context = ForwardContext.Eval();
        var generated = unet.Forward(generator, images);
        var cleanFeatures = architecture.Features(classifier, images, context);
        var generatedFeatures = architecture.Features(classifier, generated, context);
        var cleanOut = Op.Softmax(architecture.Logits(classifier, cleanFeatures, context));
        var generatedOut = Op.Softmax(architecture.Logits(classifier, generatedFeatures, context));
        int n = images.Shape[0];
        var prediction = Op.MulScalar(Op.Sum(Op.Mul(generatedOut, Op.LogSoftmax(cleanOut))), -1f / n);
        var norm = Mse(images, generated);
        float weight = norm.Item() > normBound ? 100f : 0.01f;
        return Op.Add(Op.Add(prediction, Mse(cleanFeatures, generatedFeatures)), Op.MulScalar(norm, weight));
    }

    /// <summary>
    /// The generator step's loss on one batch (`btidbfu.py::reverse`), with the mask m (1, d) and the frozen classifier f:
    /// when MSE(x, G(x)) &gt; norm bound or the benign-feature MSE(m⊙φ(x), m⊙φ(G(x))) &gt; feature bound, MSE(x, G(x)) alone
    /// (pull G back towards x); otherwise −MSE((1−m)⊙φ(x), (1−m)⊙φ(G(x))) + 0.01·MSE(m⊙φ(x), m⊙φ(G(x))) (move the
    /// backdoor features, keep the benign ones). With a <paramref name="target"/> (rounds 2 on), + CE(f(G(x)), t̂).
    /// </summary>
    /// <returns>The loss and whether it was the reconstruction alone.</returns>
    public static (Tensor Loss, bool Reconstructing) StepLoss(IFeatureExtractor architecture, ParameterSet classifier, UNet unet, ParameterSet generator,
        Tensor mask, Tensor images, int? target, BtiOptions options)
    {
        var context = ForwardContext.Eval();
        var generated = unet.Forward(generator, images);
        var cleanFeatures = architecture.Features(classifier, images, context);
        var generatedFeatures = architecture.Features(classifier, generated, context);
        var rest = Op.AddScalar(Op.Neg(mask), 1f);
        var benign = Mse(Op.Mul(mask, cleanFeatures), Op.Mul(mask, generatedFeatures));
        var backdoor = Mse(Op.Mul(rest, cleanFeatures), Op.Mul(rest, generatedFeatures));
        var norm = Mse(images, generated);
        bool reconstructing = norm.Item() > options.NormBound || benign.Item() > options.FeatureBound;
        var loss = reconstructing ? norm : Op.Add(Op.Neg(backdoor), Op.MulScalar(benign, 0.01f));
        if (target is int t)
        {
            var logits = architecture.Logits(classifier, generatedFeatures, context);
            loss = Op.Add(loss, Op.CrossEntropy(logits, Enumerable.Repeat(t, images.Shape[0]).ToArray()));
        }
        return (loss, reconstructing);
    }

    /// <summary>Pre-trains a fresh G (drawn from <paramref name="seed"/>) with <see cref="PretrainLoss"/> for the pre-training epochs.</summary>
    public static GeneratorState Pretrain(IFeatureExtractor architecture, ParameterSet classifier, UNet unet, ImageDataset clean, Normalization normalization,
        Augmentation augmentation, int batchSize, BtiOptions options, int seed, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
    {
        var weights = unet.Initialize(new Random(seed)).Clone(requiresGrad: true);
        var frozen = classifier.Clone();
        Train("BTI generator pre-training", architecture, weights, null, options.PretrainEpochs, options, clean, normalization, augmentation, batchSize, seed,
            (w, batch) => PretrainLoss(architecture, frozen, unet, w, batch.Images, options.PretrainNormBound), progress, cancellation, checkpoint, out _);
        return new GeneratorState(weights.Clone(), null);
    }

    /// <summary>
    /// One round's generator step from <paramref name="start"/> (its Adam state continued when it has one) with
    /// <see cref="StepLoss"/> against <paramref name="classifier"/> (the mask step's copy).
    /// </summary>
    /// <returns>G and its Adam state, and the share of batches that took the reconstruction regime.</returns>
    public static (GeneratorState State, double ReconstructingShare) Step(IFeatureExtractor architecture, ParameterSet classifier, UNet unet, GeneratorState start,
        Tensor mask, int? target, ImageDataset clean, Normalization normalization, Augmentation augmentation, int batchSize, BtiOptions options, int seed,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, EpochCheckpoint? checkpoint = null)
    {
        // In the U-Net's own tensor order, whatever order a restored unit gave: Adam's buffers are kept by parameter index.
        var weights = new ParameterSet();
        foreach (var spec in unet.Tensors) weights.Add(spec.Name, start.Weights[spec.Name].Clone(requiresGrad: true), spec.Role);
        int batches = 0, reconstructing = 0;
        var adam = Train("BTI generator", architecture, weights, start.Adam, options.GeneratorEpochs, options, clean, normalization, augmentation, batchSize, seed,
            (w, batch) =>
            {
                var (loss, norm) = StepLoss(architecture, classifier, unet, w, mask, batch.Images, target, options);
                batches++;
                if (norm) reconstructing++;
                return loss;
            }, progress, cancellation, checkpoint, out _);
        return (new GeneratorState(weights.Clone(), adam.ExportState()), batches == 0 ? double.NaN : (double)reconstructing / batches);
    }

    /// <summary>
    /// The target class t̂: the class the classifier (eval mode) predicts most often for G(x + σ·N(0, 1)) over one shuffled,
    /// augmented pass of D (`evaluate.py::get_target_label`, σ = 0.03); ties go to the lowest class, as np.argmax.
    /// </summary>
    /// <returns>t̂ and the prediction counts per class.</returns>
    public static (int Target, long[] Counts) DetectTarget(IArchitecture architecture, ParameterSet classifier, UNet unet, ParameterSet generator,
        ImageDataset clean, Normalization normalization, Augmentation augmentation, int batchSize, double noise, int seed)
    {
        var counts = new long[architecture.Config.Classes];
        var rng = new Random(seed);
        var loader = new BatchLoader(clean, normalization, new BatchLoaderOptions { BatchSize = batchSize, Shuffle = true, Seed = seed, Augmentation = augmentation, Prefetch = false });
        foreach (var batch in loader.Epoch(0))
            using (batch)
            using (TensorScope.Open())
            using (GradMode.Disable())
            {
                var noisy = Op.Add(batch.Images, Op.MulScalar(Tensor.Randn(rng, batch.Images.Shape.ToArray()), (float)noise));
                foreach (int k in Op.ArgMax(architecture.Forward(classifier, unet.Forward(generator, noisy), ForwardContext.Eval()))) counts[k]++;
            }
        int target = 0;
        for (int k = 1; k < counts.Length; k++) if (counts[k] > counts[target]) target = k;
        return (target, counts);
    }

    // The one training loop over G's weights: Adam at the generator rate (continued from `adam` when given), constant,
    // eval-mode classifier, D shuffled and augmented per (seed, epoch).
    private static Adam Train(string stage, IArchitecture architecture, ParameterSet weights, OptimizerState? adamState, int epochs, BtiOptions options,
        ImageDataset clean, Normalization normalization, Augmentation augmentation, int batchSize, int seed, Func<ParameterSet, Batch, Tensor> loss,
        IProgress<TrainingProgress>? progress, CancellationToken cancellation, EpochCheckpoint? checkpoint, out TrainingResult result)
    {
        var adam = new Adam([.. weights.Parameters.Select(e => e.Tensor)], options.GeneratorLearningRate);
        if (adamState is not null) adam.ImportState(adamState);
        var loader = OptionChecks.TrainingLoader(clean, normalization, batchSize, seed, augmentation);
        result = new TrainingLoop
        {
            Stage = stage,
            Architecture = architecture,
            Weights = new ModelWeights(weights),
            Objective = new GeneratorObjective(loss),
            Optimizer = adam,
            Schedule = new ConstantSchedule(options.GeneratorLearningRate),
            Epochs = epochs,
            ContextForEpoch = _ => ForwardContext.Eval(),
            State = checkpoint?.ForTensors(weights, null),
            Progress = progress,
            Cancellation = cancellation,
            LearningRateName = "--bti-generator-lr",
        }.Run(new BatchLoaderSource(loader));
        return adam;
    }

    private sealed class GeneratorObjective(Func<ParameterSet, Batch, Tensor> loss) : ITrainingObjective
    {
        // G's weights and Adam are in the state file; the batches derive from (seed, epoch).
        public bool IsStateless => true;
        public BatchLoss Loss(IArchitecture _, ParameterSet weights, Batch batch, ForwardContext context) => loss(weights, batch);
    }
}
