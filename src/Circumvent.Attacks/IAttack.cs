using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// A backdoor trigger applied to raw images. Implementations are immutable after construction and
/// safe to call from several threads (data loaders apply triggers on worker threads).
/// </summary>
public interface IAttack
{
    /// <summary>One of <see cref="AttackDefinition.Kinds"/>.</summary>
    string Name { get; }
    int TargetClass { get; }
    AttackDefinition Definition { get; }

    /// <summary>Stamps the (test-time) trigger into one image, in place: <paramref name="chw"/> is C·H·W bytes, CHW.</summary>
    /// <exception cref="ArgumentException">The trigger does not fit an image of this shape.</exception>
    void ApplyTrigger(Span<byte> chw, int channels, int height, int width);

    /// <summary>Stamps the test-time trigger into every image of <paramref name="set"/>, in place (an attack may batch this).</summary>
    void ApplyTriggerToAll(ImageDataset set)
    {
        for (int i = 0; i < set.Count; i++) ApplyTrigger(set.Image(i), set.Channels, set.Height, set.Width);
    }

    /// <summary>
    /// Clean-label attacks (SIG, LC) poison only target-class training samples and keep every label;
    /// the others draw from the non-target samples and relabel them to the target.
    /// </summary>
    bool CleanLabel => Definition.IsCleanLabel;

    /// <summary>
    /// Turns the training samples at <paramref name="indices"/> of <paramref name="set"/> into poisoned
    /// ones, in place (labels are the caller's business). Default: the test-time trigger on each; LC
    /// perturbs the images adversarially first.
    /// </summary>
    void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices)
    {
        foreach (int i in indices) ApplyTrigger(set.Image(i), set.Channels, set.Height, set.Width);
    }

    /// <summary>
    /// Which <paramref name="count"/> of the <paramref name="candidates"/> (indices into <paramref name="set"/>, ascending) to poison,
    /// ascending. Default: a random draw by <paramref name="seed"/> (<see cref="Poisoning.RandomChoice"/>); SAPA may choose by gradient norm.
    /// </summary>
    int[] ChoosePoisons(ImageDataset set, int[] candidates, int count, int seed) => Poisoning.RandomChoice(candidates, count, seed);

    string ToJson() => Definition.ToJson();
}

/// <summary>
/// An attack with WaNet's "noise mode": besides the poisoned samples, <see cref="NoiseSamplesPerPoisoned"/>
/// times as many other training samples get a randomly jittered version of the trigger and keep their
/// true label, so the network learns that only the exact trigger means the target class.
/// </summary>
public interface INoiseModeAttack : IAttack
{
    int NoiseSamplesPerPoisoned { get; }

    /// <summary>Stamps a jittered trigger (jitter drawn from <paramref name="rng"/>) into one CHW image, in place.</summary>
    void ApplyNoise(Span<byte> chw, int channels, int height, int width, Random rng);
}
