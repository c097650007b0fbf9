using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Evaluation;

/// <summary>ACC / ASR / RA of a model, in eval mode (running BN statistics) without recording a graph.</summary>
public static class BackdoorMetrics
{
    /// <summary>
    /// ACC over the whole clean <paramref name="test"/> set; with an <paramref name="attack"/>, ASR and
    /// RA over its non-target images with the trigger applied (built once per call), and ASR over all of
    /// its images, the target class's included (<see cref="BackdoorScores.AsrAll"/>).
    /// </summary>
    /// <param name="ttaLevel">Test-time augmentation of every prediction (<see cref="TestTimeAugmentation"/>; 0 = none).</param>
    /// <param name="cancellation">
    /// Observed between batches (throws OperationCanceledException): 20,000 test images through a PreAct-ResNet18 are
    /// minutes on two cores, longer than a scheduler's grace period after SIGTERM.
    /// </param>
    public static BackdoorScores Evaluate(IArchitecture architecture, ParameterSet parameters, ImageDataset test,
        Normalization normalization, IAttack? attack, int batchSize = 256, int ttaLevel = 0, CancellationToken cancellation = default) =>
        Evaluate(architecture, parameters, BackdoorTestSet.Create(test, normalization, attack), batchSize, ttaLevel, cancellation);

    /// <summary>The same on a prepared <see cref="BackdoorTestSet"/> (reuse it when evaluating many models).</summary>
    public static BackdoorScores Evaluate(IArchitecture architecture, ParameterSet parameters, BackdoorTestSet testSet, int batchSize = 256, int ttaLevel = 0,
        CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"Batch size must be at least 1, got {batchSize}.");
        if (testSet.Clean.Count == 0) throw new ArgumentException("The clean test set is empty.");
        var cleanPredictions = Predict(architecture, parameters, testSet.Clean, testSet.Normalization, batchSize, ttaLevel, cancellation);
        double acc = Percent(CountEqual(cleanPredictions, testSet.Clean.Labels), testSet.Clean.Count);
        if (testSet.Triggered is not { } triggered) return new BackdoorScores(acc, null, null);
        if (triggered.Count == 0)
            throw new ArgumentException($"The test set has no images outside target class {testSet.TargetClass}; ASR is undefined.");

        var predictions = Predict(architecture, parameters, triggered, testSet.Normalization, batchSize, ttaLevel, cancellation);
        int hitTarget = CountTarget(predictions, testSet.TargetClass);
        double asr = Percent(hitTarget, triggered.Count);
        double ra = Percent(CountEqual(predictions, triggered.Labels), triggered.Count);
        // Other tools' ASR: every test image triggered, the target class's own included (those count as hits
        // when they stay in their class, so this is never below the non-target ASR by much on a backdoored model).
        double? asrAll = null;
        if (testSet.TriggeredTarget is { } targetImages)
        {
            int hitOwn = targetImages.Count == 0 ? 0 : CountTarget(Predict(architecture, parameters, targetImages, testSet.Normalization, batchSize, cancellation: cancellation), testSet.TargetClass);
            asrAll = Percent(hitTarget + hitOwn, triggered.Count + targetImages.Count);
        }
        return new BackdoorScores(acc, asr, ra, asrAll);
    }

    /// <summary>Top-1 class of every image, in dataset order.</summary>
    public static int[] Predict(IArchitecture architecture, ParameterSet parameters, ImageDataset images, Normalization normalization, int batchSize = 256,
        int ttaLevel = 0, CancellationToken cancellation = default)
    {
        if (normalization.Channels != images.Channels)
            throw new ArgumentException($"Normalization has {normalization.Channels} channels, the images have {images.Channels}.");
        var predictions = new int[images.Count];
        var order = new int[images.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        using var noGrad = GradMode.Disable();
        var context = ForwardContext.Eval();
        for (int start = 0; start < images.Count; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = Math.Min(batchSize, images.Count - start);
            using var scope = TensorScope.Open();
            // (B, C, H, W) normalised -> logits (B, classes) -> argmax per row.
            var x = ImageTensors.ToTensor(images, order.AsSpan(start, count), normalization);
            var logits = TestTimeAugmentation.Logits(architecture, parameters, x, context, ttaLevel);
            Op.ArgMax(logits).CopyTo(predictions.AsSpan(start, count));
        }
        return predictions;
    }

    private static int CountTarget(int[] predictions, int target)
    {
        int hits = 0;
        foreach (int p in predictions) if (p == target) hits++;
        return hits;
    }

    private static int CountEqual(int[] predictions, int[] labels)
    {
        int equal = 0;
        for (int i = 0; i < predictions.Length; i++) if (predictions[i] == labels[i]) equal++;
        return equal;
    }

    private static double Percent(int part, int whole) => 100.0 * part / whole;
}

/// <summary>
/// The images <see cref="BackdoorMetrics"/> evaluates: the clean test set and, with an attack, its
/// triggered non-target images (true labels kept) and its triggered target-class images (for ASR over all).
/// </summary>
public sealed record BackdoorTestSet(ImageDataset Clean, ImageDataset? Triggered, int TargetClass, Normalization Normalization,
    ImageDataset? TriggeredTarget = null)
{
    public static BackdoorTestSet Create(ImageDataset test, Normalization normalization, IAttack? attack) =>
        attack is null
            ? new BackdoorTestSet(test, null, -1, normalization)
            : new BackdoorTestSet(test, Poisoning.TriggeredNonTarget(test, attack), attack.TargetClass, normalization,
                Poisoning.TriggeredTarget(test, attack));
}
