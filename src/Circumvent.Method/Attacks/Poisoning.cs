using Circumvent.Data;

namespace Circumvent.Method.Attacks;

/// <summary>Builds the attacker's training set and the triggered test images.</summary>
public static class Poisoning
{
    /// <summary>
    /// All-to-one data poisoning: round(rate·N) samples (N = the whole training set, as in
    /// BackdoorBench's pratio) are drawn by <paramref name="seed"/> among the samples whose label is
    /// not the target, get the trigger stamped in and are relabelled to the target class.
    /// </summary>
    /// <returns>A new dataset (the input is untouched) and the poisoned indices, ascending.</returns>
    public static (ImageDataset Poisoned, int[] PoisonedIndices) PoisonTrainingSet(ImageDataset train, IAttack attack, double rate, int seed)
    {
        int target = CheckTarget(train, attack);
        if (!(rate > 0 && rate < 1))
            throw new ArgumentException($"Poison rate must be in (0, 1), got {rate}.");
        var candidates = NonTargetIndices(train, target);
        int count = (int)Math.Round(rate * train.Count, MidpointRounding.AwayFromZero);
        if (count == 0)
            throw new ArgumentException($"Poison rate {rate} rounds to 0 of {train.Count} samples; nothing would be poisoned.");
        if (count > candidates.Length)
            throw new ArgumentException(
                $"Poison rate {rate} asks for {count} of {train.Count} samples, but only {candidates.Length} are outside target class {target}.");

        var chosen = Subsets.RandomIndices(candidates.Length, count, seed);
        var poisonedIndices = Array.ConvertAll(chosen, k => candidates[k]); // ascending: candidates and chosen both are

        var pixels = (byte[])train.Pixels.Clone();
        var labels = (int[])train.Labels.Clone();
        var poisoned = new ImageDataset(pixels, labels, train.Channels, train.Height, train.Width, train.ClassNames);
        foreach (int i in poisonedIndices)
        {
            attack.ApplyTrigger(poisoned.Image(i), train.Channels, train.Height, train.Width);
            labels[i] = target;
        }
        return (poisoned, poisonedIndices);
    }

    /// <summary>
    /// The test images whose true label is not the target, with the trigger applied and their TRUE
    /// labels kept (ASR compares predictions with the target, RA with these labels).
    /// </summary>
    public static ImageDataset TriggeredNonTarget(ImageDataset test, IAttack attack)
    {
        int target = CheckTarget(test, attack);
        var triggered = test.Subset(NonTargetIndices(test, target));
        for (int i = 0; i < triggered.Count; i++)
            attack.ApplyTrigger(triggered.Image(i), triggered.Channels, triggered.Height, triggered.Width);
        return triggered;
    }

    private static int CheckTarget(ImageDataset dataset, IAttack attack)
    {
        int target = attack.TargetClass;
        if ((uint)target >= (uint)dataset.NumClasses)
            throw new ArgumentException($"--target {target} is outside the dataset's classes 0..{dataset.NumClasses - 1}.");
        return target;
    }

    private static int[] NonTargetIndices(ImageDataset dataset, int target)
    {
        var indices = new List<int>(dataset.Count);
        for (int i = 0; i < dataset.Count; i++)
            if (dataset.Labels[i] != target) indices.Add(i);
        return indices.ToArray();
    }
}
