using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Attacks;

/// <summary>
/// LF (low-frequency trigger, Zeng et al. 2021): a fixed smooth pattern read from a .npy file of shape
/// (H, W, C), C ∈ {1, 3} (uint8 taken as it is, floats all within [0, 1] scaled by 255), is added to the
/// image and the result clipped: x' = clip(round(x + p), 0, 255). The pattern is resized bilinearly
/// when the input size differs and adapted to the input's channel count like any trigger image.
/// The file is the user's (BackdoorBench publishes one per dataset and model); none is bundled.
/// </summary>
public sealed class LfAttack : AdditiveAttack
{
    private readonly TriggerImage _source;

    public LfAttack(AttackDefinition definition) : base(definition, AttackDefinition.LfKind) =>
        _source = LoadPattern(definition.TriggerImage!);

    protected override float[] BuildPattern(int channels, int height, int width) =>
        _source.WithChannels(channels).Resized(height, width).Values;

    /// <summary>Reads the pattern, insisting on the (H, W, C) layout BackdoorBench saves it in.</summary>
    /// <exception cref="DataFormatException">Not a .npy file, or not of shape (H, W, 1|3).</exception>
    public static TriggerImage LoadPattern(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"LF pattern '{path}' not found.", path);
        if (!path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new DataFormatException(path, "expected the LF pattern as a .npy file of shape (H, W, C).");
        var shape = Npy.Read(path).Shape;
        if (shape.Length != 3 || shape[2] is not (1 or 3) || shape[0] < 1 || shape[1] < 1)
            throw new DataFormatException(path, $"expected an LF pattern of shape (H, W, C) with C = 1 or 3, found ({string.Join(", ", shape)}).");
        return TriggerImage.Load(path);
    }
}
