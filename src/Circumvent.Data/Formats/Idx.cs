using System.Buffers.Binary;
using System.IO.Compression;

namespace Circumvent.Data.Formats;

/// <summary>Images from an IDX file: <see cref="Pixels"/> holds Count·Height·Width bytes, image-major.</summary>
public sealed record IdxImages(int Count, int Height, int Width, byte[] Pixels);

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type byte,
/// a dimension count, then one int32 per dimension) followed by the raw values. Only unsigned
/// bytes (type 0x08) are supported: images have magic 0x00000803, labels 0x00000801.
/// Files may be gzipped; that is detected from the gzip magic, not the file name.
/// </summary>
public static class Idx
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    public static IdxImages ReadImages(string path)
    {
        var (dims, data) = Read(path, ImagesMagic, "IDX images");
        return new IdxImages(dims[0], dims[1], dims[2], data);
    }

    /// <summary>Labels as ints (one byte each in the file).</summary>
    public static int[] ReadLabels(string path)
    {
        var (_, data) = Read(path, LabelsMagic, "IDX labels");
        var labels = new int[data.Length];
        for (int i = 0; i < data.Length; i++) labels[i] = data[i];
        return labels;
    }

    /// <summary>Reads an unsigned-byte IDX file whose magic must equal <paramref name="expectedMagic"/>.</summary>
    public static (int[] Dims, byte[] Data) Read(string path, int expectedMagic, string what)
    {
        return Parse(path, FileBytes.OpenRead(path), expectedMagic, what);
    }

    /// <summary>
    /// Parses an IDX file (plain or gzipped) from a seekable stream, which it disposes;
    /// <paramref name="path"/> labels errors.
    /// </summary>
    public static (int[] Dims, byte[] Data) Parse(string path, Stream file, int expectedMagic, string what)
    {
        using var stream = FileBytes.MaybeGzip(file, out long? plainLength);
        Span<byte> head = stackalloc byte[4];
        FileBytes.ReadExactly(stream, head, path, "IDX magic number");
        int magic = BinaryPrimitives.ReadInt32BigEndian(head);
        if (magic != expectedMagic)
            throw new DataFormatException(path, $"expected {what} (magic 0x{expectedMagic:X8}), found magic 0x{magic:X8}.");

        int rank = expectedMagic & 0xff;
        var dims = new int[rank];
        Span<byte> dimBytes = stackalloc byte[4 * rank];
        FileBytes.ReadExactly(stream, dimBytes, path, $"{rank} IDX dimensions");
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.Slice(4 * i, 4));
            if (dims[i] < 0)
                throw new DataFormatException(path, $"dimension {i} is negative ({dims[i]}).");
            count *= dims[i];
            FileBytes.CheckPayloadSize(count, path, what);
        }

        long headerBytes = 4 + 4L * rank;
        if (plainLength is long length && length != headerBytes + count)
            throw new DataFormatException(path,
                $"dimensions ({string.Join("×", dims)}) need {headerBytes + count} bytes, file has {length}.");

        byte[] data;
        if (plainLength is null)
            data = FileBytes.ReadExactlyGrowing(stream, count, path, $"{what} data ({string.Join("×", dims)})");
        else
        {
            data = GC.AllocateUninitializedArray<byte>((int)count);
            FileBytes.ReadExactly(stream, data, path, $"{what} data ({string.Join("×", dims)})");
        }
        FileBytes.ExpectEnd(stream, path, $"{what} data");
        return (dims, data);
    }

    /// <summary>Writes an unsigned-byte IDX file (rank = dims.Length); gzipped when <paramref name="gzip"/>.</summary>
    public static void Write(string path, int[] dims, ReadOnlySpan<byte> data, bool gzip = false)
    {
        long count = 1;
        foreach (var d in dims) count *= d;
        if (count != data.Length)
            throw new ArgumentException($"IDX dims ({string.Join("×", dims)}) need {count} bytes, got {data.Length}.");
        using var file = File.Create(path);
        using Stream output = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, 0x0800 | dims.Length);
        output.Write(word);
        foreach (var d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            output.Write(word);
        }
        output.Write(data);
    }
}
