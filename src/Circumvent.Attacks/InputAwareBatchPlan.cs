namespace Circumvent.Attacks;

/// <summary>
/// Which positions of one training batch InputAware rewrites: <see cref="Backdoor"/> get their own
/// trigger and the target label, <see cref="Cross"/> get the trigger of another image and keep their
/// label, <see cref="Clean"/> stay as they are. Each list ascending; together a partition of 0..B−1.
/// </summary>
public sealed record InputAwareBatchPlan(int[] Backdoor, int[] Cross, int[] Clean)
{
    /// <summary>floor(rate·B), as the authors' int(p·bs) (with a hair of slack against 0.29·100 = 28.999…).</summary>
    public static int CountFor(double rate, int batchSize) => (int)Math.Floor(rate * batchSize + 1e-9);

    /// <summary>
    /// floor(poisonRate·B) backdoor and floor(crossRate·B) cross positions, drawn from <paramref name="rng"/>
    /// (the authors take the first ones of a shuffled batch; an explicit draw makes the choice the seed's).
    /// </summary>
    public static InputAwareBatchPlan Draw(int batchSize, double poisonRate, double crossRate, Random rng)
    {
        if (batchSize < 1) throw new ArgumentException($"A batch needs at least one sample, got {batchSize}.");
        int backdoor = CountFor(poisonRate, batchSize), cross = CountFor(crossRate, batchSize);
        if (backdoor + cross > batchSize)
            throw new ArgumentException($"input-aware: {backdoor} backdoor + {cross} cross samples do not fit a batch of {batchSize}.");
        var positions = Enumerable.Range(0, batchSize).ToArray();
        rng.Shuffle(positions);
        int[] Sorted(int start, int count) => [.. positions.AsSpan(start, count).ToArray().Order()];
        return new InputAwareBatchPlan(Sorted(0, backdoor), Sorted(backdoor, cross), Sorted(backdoor + cross, batchSize - backdoor - cross));
    }
}
