using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// The attacker's training set: <paramref name="Data"/> is a new dataset (the input is untouched);
/// <paramref name="PoisonedIndices"/> carry the trigger (relabelled to the target unless the attack is
/// clean-label); <paramref name="NoiseIndices"/> carry a jittered trigger and keep their labels (WaNet's
/// noise mode; empty otherwise). Both ascending, as indices into the training set given.
/// </summary>
public sealed record PoisonedTrainingSet(ImageDataset Data, int[] PoisonedIndices, int[] NoiseIndices);

/// <summary>Builds the attacker's training set and the triggered test images.</summary>
public static class Poisoning
{
    /// <summary>
    /// All-to-one data poisoning: round(rate·N) samples (N = the whole training set, as in
    /// BackdoorBench's pratio) are drawn by <paramref name="seed"/> among the samples whose label is
    /// not the target — for a clean-label attack among the target-class samples; an attack may choose them itself instead
    /// (<see cref="IAttack.ChoosePoisons"/>: SAPA by gradient norm) — and poisoned
    /// (<see cref="IAttack.PoisonTrainingImages"/>); dirty-label ones are relabelled to the target.
    /// A noise-mode attack then draws ratio × that many of the remaining samples, also by seed, and
    /// gives each a jittered trigger without changing its label.
    /// </summary>
    public static PoisonedTrainingSet Poison(ImageDataset train, IAttack attack, double rate, int seed)
    {
        int target = CheckTarget(train, attack);
        if (!(rate > 0 && rate < 1))
            throw new ArgumentException($"Poison rate must be in (0, 1), got {rate}.");
        bool cleanLabel = attack.CleanLabel;
        var candidates = cleanLabel ? IndicesWhere(train, l => l == target) : IndicesWhere(train, l => l != target);
        int count = (int)Math.Round(rate * train.Count, MidpointRounding.AwayFromZero);
        if (count == 0)
            throw new ArgumentException($"Poison rate {rate} rounds to 0 of {train.Count} samples; nothing would be poisoned.");
        if (count > candidates.Length)
            throw new ArgumentException(cleanLabel
                ? $"Poison rate {rate} asks for {count} of {train.Count} samples, but the clean-label {attack.Name} attack can only poison the {candidates.Length} samples of target class {target}."
                : $"Poison rate {rate} asks for {count} of {train.Count} samples, but only {candidates.Length} are outside target class {target}.");

        var poisonedIndices = attack.ChoosePoisons(train, candidates, count, seed);
        if (poisonedIndices.Length != count || poisonedIndices.Except(candidates).Any() || poisonedIndices.Zip(poisonedIndices.Skip(1)).Any(p => p.First >= p.Second))
            throw new InvalidOperationException($"{attack.Name} chose {poisonedIndices.Length} poisons, not {count} distinct candidates in ascending order.");

        var labels = (int[])train.Labels.Clone();
        var poisoned = new ImageDataset((byte[])train.Pixels.Clone(), labels, train.Channels, train.Height, train.Width, train.ClassNames);
        attack.PoisonTrainingImages(poisoned, poisonedIndices);
        if (!cleanLabel)
            foreach (int i in poisonedIndices) labels[i] = target;
        int[] noiseIndices = attack is INoiseModeAttack noisy ? AddNoiseSamples(poisoned, noisy, poisonedIndices, seed) : [];
        return new PoisonedTrainingSet(poisoned, poisonedIndices, noiseIndices);
    }

    /// <summary><paramref name="count"/> of <paramref name="candidates"/> (ascending) drawn by <paramref name="seed"/>, ascending: the usual choice of poisons.</summary>
    public static int[] RandomChoice(int[] candidates, int count, int seed) =>
        Array.ConvertAll(Subsets.RandomIndices(candidates.Length, count, seed), k => candidates[k]); // ascending: candidates and the draw both are

    /// <summary>As <see cref="Poison"/>, for callers that need only the data and the poisoned indices.</summary>
    public static (ImageDataset Poisoned, int[] PoisonedIndices) PoisonTrainingSet(ImageDataset train, IAttack attack, double rate, int seed)
    {
        var result = Poison(train, attack, rate, seed);
        return (result.Data, result.PoisonedIndices);
    }

    private static int[] AddNoiseSamples(ImageDataset poisoned, INoiseModeAttack attack, int[] poisonedIndices, int seed)
    {
        long wanted = (long)attack.NoiseSamplesPerPoisoned * poisonedIndices.Length;
        if (wanted == 0) return [];
        var rest = Subsets.Complement(poisoned.Count, poisonedIndices);
        if (wanted > rest.Length)
            throw new ArgumentException(
                $"{attack.Name} noise mode needs {wanted} samples besides the {poisonedIndices.Length} poisoned ones, but only {rest.Length} remain; lower --poison-rate or --noise-ratio.");
        // Streams of their own, so the poisoned draw above is the same with or without noise mode.
        int noiseSeed = unchecked(seed * 1_000_003 + 7_919);
        var noiseIndices = Array.ConvertAll(Subsets.RandomIndices(rest.Length, (int)wanted, noiseSeed), k => rest[k]);
        var jitter = new Random(unchecked(noiseSeed * 31 + 17));
        foreach (int i in noiseIndices)
            attack.ApplyNoise(poisoned.Image(i), poisoned.Channels, poisoned.Height, poisoned.Width, jitter);
        return noiseIndices;
    }

    /// <summary>
    /// The test images whose true label is not the target, with the trigger applied and their TRUE
    /// labels kept (ASR compares predictions with the target, RA with these labels).
    /// </summary>
    public static ImageDataset TriggeredNonTarget(ImageDataset test, IAttack attack)
    {
        int target = CheckTarget(test, attack);
        return Triggered(test, attack, l => l != target);
    }

    /// <summary>The test images of the target class with the trigger applied: what ASR over all test images adds.</summary>
    public static ImageDataset TriggeredTarget(ImageDataset test, IAttack attack)
    {
        int target = CheckTarget(test, attack);
        return Triggered(test, attack, l => l == target);
    }

    private static ImageDataset Triggered(ImageDataset test, IAttack attack, Func<int, bool> labelMatches)
    {
        var triggered = test.Subset(IndicesWhere(test, labelMatches));
        attack.ApplyTriggerToAll(triggered);
        return triggered;
    }

    private static int CheckTarget(ImageDataset dataset, IAttack attack)
    {
        int target = attack.TargetClass;
        if ((uint)target >= (uint)dataset.NumClasses)
            throw new ArgumentException($"--target {target} is outside the dataset's classes 0..{dataset.NumClasses - 1}.");
        return target;
    }

    private static int[] IndicesWhere(ImageDataset dataset, Func<int, bool> labelMatches)
    {
        var indices = new List<int>(dataset.Count);
        for (int i = 0; i < dataset.Count; i++)
            if (labelMatches(dataset.Labels[i])) indices.Add(i);
        return indices.ToArray();
    }
}
