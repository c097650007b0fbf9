namespace Circumvent.Method.Attacks;

/// <summary>
/// SIG (Barni et al. 2019), clean-label: a horizontal sinusoid is added to every channel,
/// x'[c, i, j] = clip(round(x + Δ·sin(2π·f·j/W)), 0, 255), with Δ = 40 and f = 6 by default. Only
/// target-class training images are poisoned and no label changes; at test time any image gets the signal.
/// </summary>
public sealed class SigAttack : IAttack
{
    private readonly PatternCache _patterns;

    public SigAttack(AttackDefinition definition)
    {
        if (definition.Kind != AttackDefinition.SigKind)
            throw new ArgumentException($"SigAttack needs a '{AttackDefinition.SigKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _patterns = new PatternCache(Build);
    }

    public string Name => AttackDefinition.SigKind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    /// <summary>The signal added to a C×H×W image (C·H·W floats): one sine value per column, repeated over rows and channels.</summary>
    public float[] PatternFor(int channels, int height, int width) => _patterns.For(channels, height, width);

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        PixelPatterns.CheckImage("SIG", chw, channels, height, width);
        PixelPatterns.AddClipped(chw, PatternFor(channels, height, width));
    }

    private float[] Build(int channels, int height, int width)
    {
        var pattern = new float[channels * height * width];
        for (int j = 0; j < width; j++)
        {
            float value = (float)(Definition.SigDelta * Math.Sin(2 * Math.PI * Definition.SigFrequency * j / width));
            for (int row = 0; row < channels * height; row++) pattern[row * width + j] = value;
        }
        return pattern;
    }
}
