namespace Circumvent.Attacks;

/// <summary>
/// SIG (Barni et al. 2019), clean-label: a horizontal sinusoid is added to every channel,
/// x'[c, i, j] = clip(round(x + Δ·sin(2π·f·j/W)), 0, 255), with Δ = 40 and f = 6 by default. Only
/// target-class training images are poisoned and no label changes; at test time any image gets the signal.
/// </summary>
public sealed class SigAttack(AttackDefinition definition) : AdditiveAttack(definition, AttackDefinition.SigKind)
{
    /// <summary>One sine value per column, repeated over rows and channels.</summary>
    protected override float[] BuildPattern(int channels, int height, int width)
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
