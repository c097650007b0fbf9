using System.Text;

namespace Circumvent.Data.Formats;

/// <summary>An image as planes: <see cref="Pixels"/> is Channels·Height·Width bytes, CHW.</summary>
public sealed record PlanarImage(int Channels, int Height, int Width, byte[] Pixels);

/// <summary>
/// Binary PPM (P6, RGB) and PGM (P5, grey) with maxval ≤ 255. The header is the magic, width,
/// height and maxval separated by whitespace, where '#' starts a comment running to the end of the
/// line; exactly one whitespace byte separates maxval from the interleaved raster.
/// </summary>
public static class Netpbm
{
    private const int MaxSide = 1 << 15;

    /// <summary>
    /// Reads a P5 or P6 file. Values are rescaled to 0–255 when maxval is below 255, so every image
    /// lands on the same scale as the datasets.
    /// </summary>
    public static PlanarImage Read(string path)
    {
        byte[] bytes;
        using (var file = FileBytes.OpenRead(path))
        {
            // NOTE: the largest legal file is 3·MaxSide² bytes plus a short header; anything bigger is rejected unread.
            long limit = 3L * MaxSide * MaxSide + 4096;
            if (file.Length > limit)
                throw new DataFormatException(path, $"size {file.Length} exceeds the {limit}-byte limit for a {MaxSide}×{MaxSide} image.");
            bytes = new byte[file.Length];
            FileBytes.ReadExactly(file, bytes, path, "PPM/PGM data");
        }
        return Parse(path, bytes);
    }

    /// <summary>Parses a whole P5/P6 file held in memory; <paramref name="path"/> labels errors.</summary>
    public static PlanarImage Parse(string path, byte[] bytes)
    {
        if (bytes.Length < 2 || bytes[0] != (byte)'P' || (bytes[1] != (byte)'5' && bytes[1] != (byte)'6'))
            throw new DataFormatException(path, $"expected a binary PGM/PPM magic 'P5' or 'P6', found '{Preview(bytes)}'.");
        int channels = bytes[1] == (byte)'6' ? 3 : 1;

        int pos = 2;
        int width = ReadHeaderInt(bytes, ref pos, path, "width");
        int height = ReadHeaderInt(bytes, ref pos, path, "height");
        int maxval = ReadHeaderInt(bytes, ref pos, path, "maxval");
        if (width < 1 || height < 1 || width > MaxSide || height > MaxSide)
            throw new DataFormatException(path, $"expected width and height in 1–{MaxSide}, found {width}×{height}.");
        if (maxval < 1 || maxval > 255)
            throw new DataFormatException(path, $"expected maxval 1–255 (one byte per sample), found {maxval}.");
        if (pos >= bytes.Length || !IsWhitespace(bytes[pos]))
            throw new DataFormatException(path, "expected one whitespace byte after maxval before the raster.");
        pos++;

        long need = (long)channels * width * height;
        long have = bytes.Length - pos;
        if (have != need)
            throw new DataFormatException(path, $"a {width}×{height} {(channels == 3 ? "P6" : "P5")} raster needs {need} bytes, found {have}.");

        // Interleaved HWC on disk -> planar CHW.
        var pixels = new byte[need];
        int plane = width * height;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < channels; c++)
            {
                int v = bytes[pos + i * channels + c];
                if (v > maxval)
                    throw new DataFormatException(path, $"sample {v} at pixel {i} exceeds maxval {maxval}.");
                pixels[c * plane + i] = maxval == 255 ? (byte)v : (byte)((v * 255 + maxval / 2) / maxval);
            }
        return new PlanarImage(channels, height, width, pixels);
    }

    /// <summary>Writes a P5 (1 channel) or P6 (3 channels) file from CHW bytes, maxval 255.</summary>
    public static void Write(string path, PlanarImage image) => Write(path, image.Channels, image.Height, image.Width, image.Pixels);

    public static void Write(string path, int channels, int height, int width, ReadOnlySpan<byte> chw, string? comment = null)
    {
        if (channels is not (1 or 3))
            throw new ArgumentException($"PGM/PPM hold 1 or 3 channels, got {channels}.");
        int plane = height * width;
        if (chw.Length != channels * plane)
            throw new ArgumentException($"A {channels}×{height}×{width} image needs {channels * plane} bytes, got {chw.Length}.");

        var header = new StringBuilder();
        header.Append(channels == 3 ? "P6\n" : "P5\n");
        if (comment is not null)
            foreach (var line in comment.Split('\n')) header.Append("# ").Append(line).Append('\n');
        header.Append(width).Append(' ').Append(height).Append("\n255\n");

        var raster = new byte[chw.Length];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < channels; c++)
                raster[i * channels + c] = chw[c * plane + i];

        using var file = File.Create(path);
        file.Write(Encoding.ASCII.GetBytes(header.ToString()));
        file.Write(raster);
    }

    private static int ReadHeaderInt(byte[] bytes, ref int pos, string path, string field)
    {
        // Skip whitespace and comments.
        while (pos < bytes.Length)
        {
            if (IsWhitespace(bytes[pos])) pos++;
            else if (bytes[pos] == (byte)'#')
                while (pos < bytes.Length && bytes[pos] != (byte)'\n' && bytes[pos] != (byte)'\r') pos++;
            else break;
        }
        int start = pos;
        long value = 0;
        while (pos < bytes.Length && bytes[pos] >= (byte)'0' && bytes[pos] <= (byte)'9')
        {
            value = value * 10 + (bytes[pos] - '0');
            if (value > int.MaxValue)
                throw new DataFormatException(path, $"header {field} is too large.");
            pos++;
        }
        if (pos == start)
        {
            string found = pos < bytes.Length ? $"'{(char)bytes[pos]}'" : "end of file";
            throw new DataFormatException(path, $"expected the header {field} (a decimal number), found {found}.");
        }
        return (int)value;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0b or 0x0c;

    private static string Preview(byte[] bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes.Take(2)) sb.Append(b is >= 32 and < 127 ? (char)b : '?');
        return sb.ToString();
    }
}
