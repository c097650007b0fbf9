using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// The retuning attack (RA) of Min et al. (NeurIPS 2024), as their code runs it (fine_tune/ft_poison.py): take
/// <see cref="Fraction"/> of the clean training set (1,000 CIFAR-10 images), turn <see cref="Poisoned"/> of them into
/// poisoned samples labelled with the target (trigger on the un-augmented image), augment the clean ones ONCE
/// (the augmentation is frozen into the set), then fine-tune the purified model on it: SGD lr 0.01, momentum 0.9,
/// no weight decay, batch 128, 5 epochs, no schedule, train mode. P-ASR is the ASR of the result.
/// </summary>
public sealed record RetuningOptions
{
    /// <summary>Share of every class of the training set (their split_ratio 0.02).</summary>
    public double Fraction { get; init; } = 0.02;
    /// <summary>Poisoned samples in the set (their poison_num).</summary>
    public int Poisoned { get; init; } = 5;
    public int Epochs { get; init; } = 5;
    public double LearningRate { get; init; } = 0.01;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; }
    public int BatchSize { get; init; } = 128;

    public FineTuneOptions FineTune => new()
    {
        Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate, Momentum = Momentum, WeightDecay = WeightDecay,
        Schedule = "none", Augment = false,
    };
}

/// <summary>The RA's fine-tuning set, which of its images are poisoned (ascending positions), and each image's index in the training set.</summary>
public sealed record RetuningSet(ImageDataset Data, int[] PoisonedPositions, int[] Sources);

/// <summary>The outcome of the retuning attack: the retuned weights and their scores (P-ASR is <c>Scores.Asr</c>).</summary>
public sealed record RetuningResult(ParameterSet Retuned, BackdoorScores Scores, int Images, int Poisoned, double Seconds)
{
    /// <summary>"p_asr" beside the report's other scores, and "retune": what was run and how it scored.</summary>
    public void AddTo(JsonObject report)
    {
        report["p_asr"] = Scores.Asr;
        report["retune"] = new JsonObject
        {
            ["images"] = Images,
            ["poisoned"] = Poisoned,
            ["acc"] = Scores.Acc,
            ["asr"] = Scores.Asr,
            ["ra"] = Scores.Ra,
            ["seconds"] = Math.Round(Seconds, 3),
        };
    }
}

public static class RetuningAttack
{
    /// <summary>
    /// The RA set: round(<see cref="RetuningOptions.Fraction"/>·n_c) images of every class c of <paramref name="train"/>, in a
    /// seeded order; the first <see cref="RetuningOptions.Poisoned"/> of them that the attack may poison (non-target images;
    /// target-class ones for a clean-label attack) carry the trigger and the target label; every other image is augmented
    /// once with <paramref name="augmentation"/>.
    /// </summary>
    public static RetuningSet BuildSet(ImageDataset train, IAttack attack, Augmentation augmentation, RetuningOptions options, int seed)
    {
        var rng = new Random(seed);
        var chosen = Subsets.PerClassIndices(train, options.Fraction, seed);
        // Their loader lists the subset shuffled; the poisoned samples replace its first entries.
        var order = chosen.OrderBy(_ => rng.Next()).ToArray();
        var set = train.Subset(order);
        int[] poisoned = [.. Enumerable.Range(0, set.Count).Where(i => attack.CleanLabel == (set.Labels[i] == attack.TargetClass)).Take(options.Poisoned)];
        if (poisoned.Length < options.Poisoned)
            throw new ArgumentException($"the retuning attack needs {options.Poisoned} images its attack can poison among {set.Count} training images; found {poisoned.Length}.");

        var identity = Normalization.Identity(set.Channels);
        var pixels = new float[set.ImageSize];
        var isPoisoned = new HashSet<int>(poisoned);
        for (int i = 0; i < set.Count; i++)
        {
            // Drawn for every image, so a clean image's crop does not depend on which images are poisoned.
            var transform = SampleTransform.Draw(augmentation, rng);
            if (isPoisoned.Contains(i)) continue;
            var image = set.Image(i);
            ImageTensors.WriteImage(image, pixels, set.Channels, set.Height, set.Width, transform, identity);
            for (int k = 0; k < pixels.Length; k++) image[k] = (byte)Math.Round(pixels[k] * 255f);
        }
        attack.PoisonTrainingImages(set, poisoned);
        foreach (int i in poisoned) set.Labels[i] = attack.TargetClass;
        return new RetuningSet(set, poisoned, order);
    }

    /// <summary>
    /// Retunes <paramref name="purified"/> on the RA set built from <paramref name="train"/> and scores the result with
    /// <paramref name="evaluate"/> (the test set's ACC/ASR/RA). <paramref name="seed"/> draws the set, its augmentation and the batches.
    /// </summary>
    public static RetuningResult Run(IArchitecture architecture, ParameterSet purified, ImageDataset train, Normalization normalization, IAttack attack,
        Augmentation augmentation, Func<ParameterSet, BackdoorScores> evaluate, int seed, RetuningOptions? options = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        options ??= new RetuningOptions();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var set = BuildSet(train, attack, augmentation, options, seed);
        var retuned = FineTuner.Run(architecture, purified, set.Data, normalization, options.FineTune with { Seed = seed }, new SupervisedObjective(0),
            progress, cancellation);
        var scores = evaluate(retuned);
        return new RetuningResult(retuned, scores, set.Data.Count, set.PoisonedPositions.Length, clock.Elapsed.TotalSeconds);
    }
}
