using SkiaSharp;

namespace Circumvent.Data.Formats;

/// <summary>
/// The one image-file decoder: binary PPM/PGM by <see cref="Netpbm"/>, PNG and JPEG by SkiaSharp. Every
/// reader of pictures (trigger images, image-folder datasets) goes through <see cref="Read"/>,
/// so all of them accept the same files and land on the same planar 0–255 layout.
/// </summary>
public static class ImageFiles
{
    /// <summary>The extensions <see cref="Read"/> accepts, lower case.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm"];

    // Same bound as Netpbm: a side of 32768 pixels is far beyond any input this tool trains on.
    private const int MaxSide = 1 << 15;

    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// Decodes <paramref name="path"/> into planes (CHW bytes): 1 channel for a greyscale file, 3 (RGB) for any
    /// other. An alpha channel is dropped (colours are read unpremultiplied): a trigger is pasted or blended
    /// whole, so transparency has no meaning here.
    /// </summary>
    public static PlanarImage Read(string path)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".ppm" or ".pgm" or ".pnm") return Netpbm.Read(path);
        if (extension is not (".png" or ".jpg" or ".jpeg"))
            throw new DataFormatException(path, $"expected an image ending in {string.Join(", ", Extensions)}, found '{extension}'.");

        byte[] bytes;
        using (var file = FileBytes.OpenRead(path))
        {
            if (file.Length > FileBytes.MaxPayloadBytes)
                throw new DataFormatException(path, $"size {file.Length} exceeds the {FileBytes.MaxPayloadBytes}-byte limit.");
            bytes = new byte[file.Length];
            FileBytes.ReadExactly(file, bytes, path, "image data");
        }
        return Decode(path, bytes);
    }

    /// <summary>Decodes a whole PNG or JPEG held in memory; <paramref name="path"/> labels errors.</summary>
    public static PlanarImage Decode(string path, byte[] bytes)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new DataFormatException(path, "not a PNG or JPEG image (the decoder recognised no format in it).");
        var info = codec.Info;
        if (info.Width < 1 || info.Height < 1 || info.Width > MaxSide || info.Height > MaxSide)
            throw new DataFormatException(path, $"image of {info.Width}×{info.Height} pixels; expected sides between 1 and {MaxSide}.");
        bool grey = info.ColorType == SKColorType.Gray8;
        int channels = grey ? 1 : 3;
        var target = new SKImageInfo(info.Width, info.Height, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var result = codec.GetPixels(target, out byte[] interleaved);
        if (result != SKCodecResult.Success || interleaved is null)
            throw new DataFormatException(path, $"the {codec.EncodedFormat} data could not be decoded ({result}).");

        // Interleaved rows (H, W, 1 or 4 bytes) -> planes (C, H, W).
        int plane = info.Width * info.Height;
        int stride = grey ? 1 : 4;
        var pixels = new byte[channels * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < channels; c++)
                pixels[c * plane + i] = interleaved[i * stride + c];
        return new PlanarImage(channels, info.Height, info.Width, pixels);
    }
}
