using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Engine;

namespace Circumvent.Attacks;

/// <summary>A trigger pattern as float planes on the 0–255 scale: <see cref="Values"/> is C·H·W, CHW.</summary>
public sealed record TriggerImage
{
    public TriggerImage(int channels, int height, int width, float[] values)
    {
        if (channels < 1 || height < 1 || width < 1 || values.Length != (long)channels * height * width)
            throw new ArgumentException($"A {channels}×{height}×{width} trigger image needs {(long)channels * height * width} values, got {values.Length}.");
        Channels = channels;
        Height = height;
        Width = width;
        Values = values;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Values { get; }

    /// <summary>
    /// Reads an image (PNG, JPEG or binary PPM/PGM, through <see cref="ImageFiles"/>) or a .npy array. A .npy may be (H, W), (H, W, C) or (C, H, W)
    /// with C ∈ {1, 3} (HWC is preferred when both readings fit); uint8 values are taken as they are,
    /// float values all within [0, 1] are scaled by 255, other numbers are taken on the 0–255 scale
    /// and clipped.
    /// </summary>
    public static TriggerImage Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Trigger image '{path}' not found.", path);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension == ".npy") return FromNpy(path, Npy.Read(path));
        if (ImageFiles.IsImage(path)) return FromPlanar(ImageFiles.Read(path));
        throw new DataFormatException(path, $"expected a trigger image ending in {string.Join(", ", ImageFiles.Extensions)} or .npy, found '{extension}'.");
    }

    public static TriggerImage FromPlanar(PlanarImage image) =>
        new(image.Channels, image.Height, image.Width, Array.ConvertAll(image.Pixels, b => (float)b));

    private static TriggerImage FromNpy(string path, NpyArray array)
    {
        var s = array.Shape;
        var values = array.ToFloats();
        if (array.Floats is not null && values.Length > 0 && values.All(v => v >= 0 && v <= 1))
            values = Array.ConvertAll(values, v => v * 255f);
        values = Array.ConvertAll(values, v => float.IsFinite(v) ? Math.Clamp(v, 0f, 255f)
            : throw new DataFormatException(path, $"trigger image holds a non-finite value {v}."));

        if (s.Length == 2) return new TriggerImage(1, s[0], s[1], values);
        if (s.Length == 3 && s[2] is 1 or 3) return FromHwc(s[0], s[1], s[2], values);
        if (s.Length == 3 && s[0] is 1 or 3) return new TriggerImage(s[0], s[1], s[2], values);
        throw new DataFormatException(path, $"expected a trigger image of shape (H, W), (H, W, C) or (C, H, W) with C = 1 or 3, found ({string.Join(", ", s)}).");
    }

    private static TriggerImage FromHwc(int height, int width, int channels, float[] hwc)
    {
        var chw = new float[hwc.Length];
        int plane = height * width;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < channels; c++)
                chw[c * plane + i] = hwc[i * channels + c];
        return new TriggerImage(channels, height, width, chw);
    }

    /// <summary>
    /// The same pattern with <paramref name="channels"/> channels: RGB → grey by the plain mean of the
    /// three planes, grey → RGB by repetition.
    /// </summary>
    public TriggerImage WithChannels(int channels)
    {
        if (channels == Channels) return this;
        int plane = Height * Width;
        if (Channels == 3 && channels == 1)
        {
            var grey = new float[plane];
            for (int i = 0; i < plane; i++) grey[i] = (Values[i] + Values[plane + i] + Values[2 * plane + i]) / 3f;
            return new TriggerImage(1, Height, Width, grey);
        }
        if (Channels == 1)
        {
            var repeated = new float[channels * plane];
            for (int c = 0; c < channels; c++) Values.AsSpan().CopyTo(repeated.AsSpan(c * plane, plane));
            return new TriggerImage(channels, Height, Width, repeated);
        }
        throw new ArgumentException($"A {Channels}-channel trigger image cannot be adapted to {channels}-channel inputs.");
    }

    /// <summary>Bilinear resize to <paramref name="height"/>×<paramref name="width"/> (PyTorch interpolate, align_corners=False, no antialias).</summary>
    public TriggerImage Resized(int height, int width)
    {
        if (height == Height && width == Width) return this;
        using var source = Tensor.FromArray(Values, 1, Channels, Height, Width);
        using var resized = Op.ResizeBilinear(source, height, width, alignCorners: false);
        return new TriggerImage(Channels, height, width, resized.ToArray());
    }
}
