using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Attacks;

/// <summary>
/// The Narcissus trigger file (Zeng et al., CCS 2023) and its value range. The authors save δ as a float32
/// .npy of shape (1, 3, H, W), NCHW, in their normalised space x̂ = (x − 0.5) / 0.5 with x in [0, 1]: a value
/// v there is v/2 in [0, 1] pixel space, i.e. v·255/2 on the 0–255 scale. Their ε = 32/255 in that space is
/// 16/255 in pixel space. <see cref="Load"/> returns δ on the 0–255 scale; <see cref="Save"/> writes the
/// authors' layout, so a trigger made here (narcissus-trigger) and the published one load alike.
/// </summary>
public static class NarcissusTrigger
{
    /// <summary>0–255 pixel units per unit of the authors' normalised space (std 0.5: ×0.5, then ×255).</summary>
    public const float PixelsPerNormalizedUnit = 255f / 2f;

    /// <summary>The authors' L∞ bound, 16/255 in [0, 1] pixel space, on the 0–255 scale.</summary>
    public const float DefaultEpsilon = 16f;

    /// <summary>δ on the 0–255 scale (signed), as a C×H×W pattern.</summary>
    /// <exception cref="DataFormatException">Not a float .npy of shape (1, C, H, W) or (C, H, W) with C = 1 or 3.</exception>
    public static TriggerImage Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Narcissus trigger '{path}' not found.", path);
        if (!path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new DataFormatException(path, "expected the Narcissus trigger as a float .npy of shape (1, 3, H, W) in the authors' mean-0.5/std-0.5 space.");
        var array = Npy.Read(path);
        var s = array.Shape;
        if (array.Floats is null)
            throw new DataFormatException(path, $"expected a float32/float64 Narcissus trigger, found {array.DType}.");
        int[] chw = s.Length == 4 && s[0] == 1 ? s[1..] : s;
        if (chw.Length != 3 || chw[0] is not (1 or 3) || chw[1] < 1 || chw[2] < 1)
            throw new DataFormatException(path, $"expected a Narcissus trigger of shape (1, C, H, W) or (C, H, W) with C = 1 or 3, found ({string.Join(", ", s)}).");
        var values = new float[array.Floats.Length];
        for (int i = 0; i < values.Length; i++)
        {
            float v = array.Floats[i];
            if (!float.IsFinite(v)) throw new DataFormatException(path, $"the trigger holds a non-finite value {v}.");
            values[i] = v * PixelsPerNormalizedUnit;
        }
        return new TriggerImage(chw[0], chw[1], chw[2], values);
    }

    /// <summary>Writes δ (0–255 scale, C×H×W) as the authors do: float32 (1, C, H, W) in their normalised space.</summary>
    public static void Save(string path, TriggerImage delta)
    {
        var normalized = Array.ConvertAll(delta.Values, v => v / PixelsPerNormalizedUnit);
        // Through a temporary sibling and a rename: a reader sees the old trigger or the whole new one.
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp.npy");
        try
        {
            Npy.Write(temp, [1, delta.Channels, delta.Height, delta.Width], normalized);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
