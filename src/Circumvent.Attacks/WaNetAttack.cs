using System.Collections.Concurrent;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;

namespace Circumvent.Attacks;

/// <summary>
/// WaNet (Nguyen &amp; Tran 2021): the trigger is a smooth, nearly invisible warp of the whole image
/// (<see cref="WarpField"/>; k = 4, s = 0.5, grid rescale 1 by default; the flow field is drawn from
/// the definition's seed, so the definition is the trigger). Pixels are resampled bilinearly
/// (align corners) and rounded to bytes. Noise mode: <see cref="NoiseSamplesPerPoisoned"/> (2) other
/// samples per poisoned one get the warp plus random jitter and keep their labels.
/// NOTE: the authors poison on the fly, per batch; here the poisoned and noise samples are drawn
/// once by seed and fixed for the whole training run (jitter too), like every other attack here.
/// </summary>
public sealed class WaNetAttack : INoiseModeAttack
{
    private readonly float[] _flow;
    private readonly ConcurrentDictionary<(int H, int W), float[]> _grids = new();

    public WaNetAttack(AttackDefinition definition)
    {
        if (definition.Kind != AttackDefinition.WaNetKind)
            throw new ArgumentException($"WaNetAttack needs a '{AttackDefinition.WaNetKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _flow = WarpField.RandomFlow(definition.WarpGrid, definition.Seed);
    }

    public string Name => AttackDefinition.WaNetKind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }
    public int NoiseSamplesPerPoisoned => Definition.NoiseRatio;

    /// <summary>The sampling grid for H × W images (H·W·2 floats, (x, y), [−1, 1]).</summary>
    public float[] GridFor(int height, int width) =>
        _grids.GetOrAdd((height, width), key => WarpField.Grid(_flow, Definition.WarpGrid, key.H, key.W, Definition.WarpStrength, Definition.GridRescale));

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        PixelPatterns.CheckImage("WaNet", chw, channels, height, width);
        Warp(chw, channels, height, width, GridFor(height, width));
    }

    public void ApplyNoise(Span<byte> chw, int channels, int height, int width, Random rng)
    {
        PixelPatterns.CheckImage("WaNet", chw, channels, height, width);
        Warp(chw, channels, height, width, WarpField.Jittered(GridFor(height, width), height, width, rng));
    }

    /// <summary>Bilinear grid sampling (align corners) of one CHW byte image, in place.</summary>
    public static void Warp(Span<byte> chw, int channels, int height, int width, float[] grid)
    {
        var pixels = new float[chw.Length];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = chw[i];
        using var noGrad = GradMode.Disable();
        using var image = Tensor.FromArray(pixels, 1, channels, height, width);
        using var sampling = Tensor.FromArray(grid, 1, height, width, 2);
        using var warped = Op.GridSample(image, sampling, alignCorners: true);
        var values = warped.Span;
        for (int i = 0; i < chw.Length; i++)
            chw[i] = (byte)Math.Clamp(MathF.Round(values[i], MidpointRounding.AwayFromZero), 0f, 255f);
    }
}
