using System.Collections.Concurrent;

namespace Circumvent.Attacks;

/// <summary>
/// Blended (Chen et al. 2017): the whole image is mixed with a trigger image,
/// x' = round((1−α)·x + α·k) clipped to 0..255, where k is the trigger resized bilinearly to the
/// input size and adapted to its channel count (RGB → grey by the mean).
/// </summary>
public sealed class BlendedAttack : IAttack
{
    private readonly TriggerImage _source;
    // One prepared pattern per input shape; loaders call ApplyTrigger from worker threads.
    private readonly ConcurrentDictionary<(int C, int H, int W), float[]> _patterns = new();

    public BlendedAttack(AttackDefinition definition)
    {
        if (definition.Kind != AttackDefinition.BlendedKind)
            throw new ArgumentException($"BlendedAttack needs a '{AttackDefinition.BlendedKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _source = TriggerImage.Load(definition.TriggerImage!);
    }

    /// <summary>A blended attack on an in-memory pattern (its <see cref="AttackDefinition.TriggerImage"/> is only recorded).</summary>
    public BlendedAttack(AttackDefinition definition, TriggerImage pattern)
    {
        if (definition.Kind != AttackDefinition.BlendedKind)
            throw new ArgumentException($"BlendedAttack needs a '{AttackDefinition.BlendedKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _source = pattern;
    }

    public string Name => AttackDefinition.BlendedKind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    /// <summary>The trigger k (C·H·W floats, 0–255) blended into images of this shape.</summary>
    public float[] PatternFor(int channels, int height, int width) =>
        _patterns.GetOrAdd((channels, height, width), key => _source.WithChannels(key.C).Resized(key.H, key.W).Values);

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        if (chw.Length != channels * height * width)
            throw new ArgumentException($"Blended: a {channels}×{height}×{width} image needs {channels * height * width} bytes, got {chw.Length}.");
        var pattern = PatternFor(channels, height, width);
        // NOTE: blended in double so α = 0.2 on integer pixels rounds exactly as the formula says.
        double alpha = Definition.Alpha, keep = 1 - alpha;
        for (int i = 0; i < chw.Length; i++)
        {
            double blended = keep * chw[i] + alpha * pattern[i];
            chw[i] = (byte)Math.Clamp(Math.Round(blended, MidpointRounding.AwayFromZero), 0, 255);
        }
    }
}
