using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// Narcissus (Zeng et al., CCS 2023), clean-label: an optimised universal additive trigger δ (a file,
/// <see cref="NarcissusTrigger"/>; the published one or one made by narcissus-trigger) is added to
/// target-class training images, labels kept: x' = clip(round(x + δ)). At test time the authors add
/// <see cref="AttackDefinition.TestAmplification"/>·δ (their multi_test = 3): x' = clip(round(x + 3δ)).
/// </summary>
public sealed class NarcissusAttack : AdditiveAttack
{
    private readonly TriggerImage _delta;
    private readonly PatternCache _trainingPatterns;

    public NarcissusAttack(AttackDefinition definition) : base(definition, AttackDefinition.NarcissusKind)
    {
        _delta = NarcissusTrigger.Load(definition.TriggerImage!);
        _trainingPatterns = new PatternCache((c, h, w) => Scaled(c, h, w, 1));
    }

    /// <summary>The test-time pattern: δ × the amplification.</summary>
    protected override float[] BuildPattern(int channels, int height, int width) =>
        Scaled(channels, height, width, Definition.TestAmplification);

    /// <summary>The training poison: δ itself, added to each (target-class) sample.</summary>
    public float[] TrainingPatternFor(int channels, int height, int width) => _trainingPatterns.For(channels, height, width);

    public override void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices)
    {
        var pattern = TrainingPatternFor(set.Channels, set.Height, set.Width);
        // NOTE: our images are bytes, so x + δ is rounded to the nearest level (≤ 0.5/255 off the authors' float poison).
        foreach (int i in indices) PixelPatterns.AddClipped(set.Image(i), pattern);
    }

    private float[] Scaled(int channels, int height, int width, double factor)
    {
        var values = _delta.WithChannels(channels).Resized(height, width).Values;
        return Array.ConvertAll(values, v => (float)(v * factor));
    }
}
