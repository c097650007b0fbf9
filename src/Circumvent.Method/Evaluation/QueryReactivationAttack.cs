using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Engine.Optim;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// The query-based reactivation attack (QRA) of Min et al. (NeurIPS 2024) as their fine_tune/qra.py runs it
/// (docs/defences-and-robustness.md §3.3): train a <see cref="PerturbationGenerator"/> so that the purified model on
/// x' = x + δ(x) answers as the retuned (RA) model does on x, while a clean model of the same recipe still classifies x'
/// correctly — loss α·KL + CE(θ_c(x'), y) — on 500 clean and 500 triggered non-target training images (true labels),
/// un-augmented; SGD lr 0.1, momentum 0.9, batch 128, 50 epochs. Reported: how often the triggered test images + δ
/// reach the target, and clean non-target test images + δ, on the purified model and on the clean model.
/// </summary>
public sealed record QraOptions
{
    /// <summary>L∞ bound of δ on the 0–1 pixel scale.</summary>
    public double Epsilon { get; init; } = 16.0 / 255;
    /// <summary>Weight of the KL term (their alpha_qra); larger reactivates more but is more adversarial.</summary>
    public double Alpha { get; init; } = 0.2;
    public int CleanImages { get; init; } = 500;
    public int PoisonedImages { get; init; } = 500;
    public int Hidden { get; init; } = 1024;
    public int Epochs { get; init; } = 50;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 0.1;
    public double Momentum { get; init; } = 0.9;
}

/// <summary>QRA's outcome, percentages over the non-target test images: triggered + δ → target (ASR) and clean + δ → target, on each model.</summary>
public sealed record QraResult(double PurifiedAsr, double PurifiedCleanToTarget, double CleanModelAsr, double CleanModelCleanToTarget,
    int TrainingImages, double Seconds)
{
    /// <summary>"qra" beside the report's other scores.</summary>
    public void AddTo(JsonObject report) => report["qra"] = new JsonObject
    {
        ["asr"] = PurifiedAsr,
        ["clean_to_target"] = PurifiedCleanToTarget,
        ["clean_model_asr"] = CleanModelAsr,
        ["clean_model_clean_to_target"] = CleanModelCleanToTarget,
        ["images"] = TrainingImages,
        ["seconds"] = Math.Round(Seconds, 3),
    };
}

public static class QueryReactivationAttack
{
    /// <summary>
    /// QRA's training set: the first <see cref="QraOptions.CleanImages"/> images of one seeded order of <paramref name="train"/>
    /// as they are, then the first <see cref="QraOptions.PoisonedImages"/> non-target images of a second, independent order
    /// with the trigger; every label is the true one. qra.py draws its clean images and its poisoned ones (the attack's
    /// poisoned training images) separately, so the two share images only by chance (before session 19 both came from
    /// one order, and most triggered images were copies of clean ones).
    /// </summary>
    public static ImageDataset BuildSet(ImageDataset train, IAttack attack, QraOptions options, int seed)
    {
        var rng = new Random(seed);
        int[] clean = [.. Enumerable.Range(0, train.Count).OrderBy(_ => rng.Next()).Take(options.CleanImages)];
        var poisonRng = new Random(Circumvent.Data.Loading.BatchLoader.MixSeed(seed, 1, -11));
        int[] toPoison = [.. Enumerable.Range(0, train.Count).OrderBy(_ => poisonRng.Next())
            .Where(i => train.Labels[i] != attack.TargetClass).Take(options.PoisonedImages)];
        if (clean.Length == 0 || toPoison.Length == 0)
            throw new ArgumentException($"QRA needs clean and non-target training images; {train.Count} training images give {clean.Length} and {toPoison.Length}.");
        var triggered = Poisoning.TriggeredNonTarget(train.Subset(toPoison), attack);
        var first = train.Subset(clean);
        var pixels = new byte[first.Pixels.Length + triggered.Pixels.Length];
        first.Pixels.CopyTo(pixels, 0);
        triggered.Pixels.CopyTo(pixels, first.Pixels.Length);
        return new ImageDataset(pixels, [.. first.Labels, .. triggered.Labels], train.Channels, train.Height, train.Width, train.ClassNames);
    }

    /// <summary>
    /// α·KL(p_ra ‖ p_p) + CE(clean model(x'), y), as qra.py's KD loss (temperature 1) computes the KL:
    /// Σ_c p_ra(x)·(log p_ra(x) − log p_p(x')), averaged over the batch — the purified model's answers on x' pulled
    /// towards the RA model's on the unperturbed x.
    /// </summary>
    /// <param name="purifiedOnPerturbed">θ_p(x'), (B, classes); the gradient flows through it and <paramref name="cleanOnPerturbed"/>.</param>
    /// <param name="retunedOnClean">θ_ra(x), (B, classes), a constant.</param>
    public static Tensor Loss(Tensor purifiedOnPerturbed, Tensor retunedOnClean, Tensor cleanOnPerturbed, int[] labels, double alpha)
    {
        int rows = retunedOnClean.Dim(0);
        float[] teacher;
        using (GradMode.Disable()) teacher = Op.Softmax(retunedOnClean).ToArray();
        double entropyPart = 0; // Σ p log p, 0·log 0 = 0 as torch's kl_div
        foreach (float p in teacher) if (p > 0) entropyPart += p * Math.Log(p);
        var cross = Op.Sum(Op.Mul(Op.LogSoftmax(purifiedOnPerturbed), Tensor.FromArray(teacher, retunedOnClean.Shape.ToArray())));
        var kl = Op.AddScalar(Op.MulScalar(cross, -1f / rows), (float)(entropyPart / rows));
        return Op.Add(Op.MulScalar(kl, (float)alpha), Op.CrossEntropy(cleanOnPerturbed, labels));
    }

    /// <summary>Trains the generator on <paramref name="set"/> (normalised with <paramref name="normalization"/>); all three models are frozen, in eval mode.</summary>
    public static ParameterSet Train(IArchitecture architecture, ParameterSet purified, ParameterSet retuned, ParameterSet clean, ImageDataset set,
        Normalization normalization, QraOptions options, int seed, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        var generator = PerturbationGenerator.Initialize(set.ImageSize, options.Hidden, new Random(seed)).Clone(requiresGrad: true);
        var objective = new QraObjective(Frozen(purified), Frozen(retuned), Frozen(clean), normalization, options);
        var loader = OptionChecks.TrainingLoader(set, normalization, options.BatchSize, seed, Augmentation.None);
        new TrainingLoop
        {
            Stage = "qra generator",
            Architecture = architecture,
            Weights = new ModelWeights(generator),
            Objective = objective,
            Optimizer = new Sgd([.. generator.Select(e => e.Tensor)], options.LearningRate, momentum: options.Momentum),
            Schedule = new ConstantSchedule(options.LearningRate),
            Epochs = options.Epochs,
            ContextForEpoch = _ => ForwardContext.Eval(),
            Progress = progress,
            Cancellation = cancellation,
        }.Run(new BatchLoaderSource(loader));
        return generator.Clone();
    }

    /// <summary>(triggered + δ → target, clean non-target + δ → target), in percent, of <paramref name="model"/> on <paramref name="testSet"/>.</summary>
    public static (double Asr, double CleanToTarget) Score(IArchitecture architecture, ParameterSet model, ParameterSet generator, BackdoorTestSet testSet,
        QraOptions options, int batchSize = 256)
    {
        if (testSet.Triggered is not { } triggered) throw new ArgumentException("QRA needs the attack's triggered test images.");
        var nonTarget = testSet.Clean.Subset([.. Enumerable.Range(0, testSet.Clean.Count).Where(i => testSet.Clean.Labels[i] != testSet.TargetClass)]);
        return (TargetRate(architecture, model, generator, triggered, testSet.Normalization, testSet.TargetClass, options, batchSize),
                TargetRate(architecture, model, generator, nonTarget, testSet.Normalization, testSet.TargetClass, options, batchSize));
    }

    /// <summary>QRA end to end: build the set from <paramref name="train"/>, train the generator, score the purified and the clean model.</summary>
    public static QraResult Run(IArchitecture architecture, ParameterSet purified, ParameterSet retuned, ParameterSet clean, ImageDataset train,
        BackdoorTestSet testSet, IAttack attack, int seed, QraOptions? options = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        options ??= new QraOptions();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var set = BuildSet(train, attack, options, seed);
        var generator = Train(architecture, purified, retuned, clean, set, testSet.Normalization, options, seed, progress, cancellation);
        var onPurified = Score(architecture, purified, generator, testSet, options);
        var onClean = Score(architecture, clean, generator, testSet, options);
        return new QraResult(onPurified.Asr, onPurified.CleanToTarget, onClean.Asr, onClean.CleanToTarget, set.Count, clock.Elapsed.TotalSeconds);
    }

    private static double TargetRate(IArchitecture architecture, ParameterSet model, ParameterSet generator, ImageDataset images, Normalization normalization,
        int target, QraOptions options, int batchSize)
    {
        if (images.Count == 0) return double.NaN;
        int hits = 0;
        var order = Enumerable.Range(0, images.Count).ToArray();
        using var noGrad = GradMode.Disable();
        for (int start = 0; start < images.Count; start += batchSize)
        {
            using var scope = TensorScope.Open();
            var x = ImageTensors.ToTensor(images, order.AsSpan(start, Math.Min(batchSize, images.Count - start)), normalization);
            var perturbed = PerturbationGenerator.Perturb(generator, x, normalization, options.Epsilon);
            hits += Op.ArgMax(architecture.Forward(model, perturbed, ForwardContext.Eval())).Count(p => p == target);
        }
        return 100.0 * hits / images.Count;
    }

    private static ParameterSet Frozen(ParameterSet parameters)
    {
        var view = new ParameterSet();
        foreach (var e in parameters) view.Add(e.Name, e.Tensor.Detach(), e.Role);
        return view;
    }

    /// <summary>QRA's loss on one batch, the generator's weights being the step's weights.</summary>
    private sealed class QraObjective(ParameterSet purified, ParameterSet retuned, ParameterSet clean, Normalization normalization, QraOptions options)
        : ITrainingObjective
    {
        public bool IsStateless => true;

        public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
        {
            var eval = ForwardContext.Eval();
            Tensor teacher;
            using (GradMode.Disable()) teacher = architecture.Forward(retuned, batch.Images, eval);
            var perturbed = PerturbationGenerator.Perturb(weights, batch.Images, normalization, options.Epsilon);
            return QueryReactivationAttack.Loss(architecture.Forward(purified, perturbed, eval), teacher, architecture.Forward(clean, perturbed, eval), batch.Labels, options.Alpha);
        }
    }
}
