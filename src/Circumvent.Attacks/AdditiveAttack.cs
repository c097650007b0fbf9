using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// An attack whose trigger is a fixed pattern added to the image and clipped (SIG, LF, the LC corners):
/// x' = clip(round(x + p), 0, 255), with p built once per input shape by <see cref="BuildPattern"/>.
/// </summary>
public abstract class AdditiveAttack : IAttack
{
    private readonly PatternCache _patterns;

    protected AdditiveAttack(AttackDefinition definition, string kind)
    {
        if (definition.Kind != kind)
            throw new ArgumentException($"{GetType().Name} needs a '{kind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _patterns = new PatternCache(BuildPattern);
    }

    public string Name => Definition.Kind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    /// <summary>The pattern added to C×H×W images (C·H·W floats, CHW, 0–255 scale).</summary>
    public float[] PatternFor(int channels, int height, int width) => _patterns.For(channels, height, width);

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        PixelPatterns.CheckImage(Name.ToUpperInvariant(), chw, channels, height, width);
        CheckFits(height, width);
        PixelPatterns.AddClipped(chw, PatternFor(channels, height, width));
    }

    /// <summary>The test-time trigger on each sample (as <see cref="IAttack"/>'s default); LC perturbs first.</summary>
    public virtual void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices)
    {
        foreach (int i in indices) ApplyTrigger(set.Image(i), set.Channels, set.Height, set.Width);
    }

    /// <summary>Throws <see cref="ArgumentException"/> when the trigger cannot be placed on images of this size.</summary>
    protected virtual void CheckFits(int height, int width) { }

    /// <summary>The pattern for one input shape; called once per shape, possibly from a worker thread.</summary>
    protected abstract float[] BuildPattern(int channels, int height, int width);
}
