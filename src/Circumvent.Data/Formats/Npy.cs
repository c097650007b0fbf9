using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Circumvent.Data.Formats;

public enum NpyDType { UInt8, Int32, Int64, Float32, Float64 }

/// <summary>
/// A .npy array in C (row-major) order. Exactly one data array is set, by dtype:
/// |u1 → <see cref="Bytes"/>; &lt;f4 and &lt;f8 → <see cref="Floats"/>; &lt;i4 and &lt;i8 → <see cref="Longs"/>.
/// </summary>
public sealed record NpyArray(int[] Shape, NpyDType DType, byte[]? Bytes = null, float[]? Floats = null, long[]? Longs = null)
{
    public int Length => Bytes?.Length ?? Floats?.Length ?? Longs!.Length;

    /// <summary>Values as float32 whatever the stored dtype.</summary>
    public float[] ToFloats()
    {
        if (Floats is not null) return Floats;
        if (Bytes is not null) return Array.ConvertAll(Bytes, b => (float)b);
        return Array.ConvertAll(Longs!, v => (float)v);
    }

    /// <summary>Integer values (e.g. labels); fails for float arrays and values outside int32.</summary>
    public int[] ToInt32()
    {
        if (Bytes is not null) return Array.ConvertAll(Bytes, b => (int)b);
        if (Longs is not null) return Array.ConvertAll(Longs, v => checked((int)v));
        throw new InvalidOperationException($"A {DType} array cannot be read as integers.");
    }
}

/// <summary>
/// NumPy's .npy format, versions 1.0–3.0: magic "\x93NUMPY", version bytes, a little-endian header
/// length (2 bytes in v1, 4 in v2/v3), then a Python dict literal with 'descr', 'fortran_order' and
/// 'shape', padded so the data starts on a 64-byte boundary. Fortran-ordered arrays are reordered to C order.
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
    private const int MaxHeaderBytes = 1 << 20;

    public static NpyArray Read(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The .npy reader assumes a little-endian machine.");
        using var file = FileBytes.OpenRead(path);
        return Parse(path, file);
    }

    /// <summary>Parses a .npy array from a seekable stream; <paramref name="path"/> labels errors.</summary>
    public static NpyArray Parse(string path, Stream file)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The .npy reader assumes a little-endian machine.");
        Span<byte> prefix = stackalloc byte[8];
        FileBytes.ReadExactly(file, prefix, path, ".npy magic and version");
        if (!prefix[..6].SequenceEqual(Magic))
            throw new DataFormatException(path, "expected the .npy magic \\x93NUMPY at the start of the file, found something else.");
        int major = prefix[6];
        if (major is < 1 or > 3)
            throw new DataFormatException(path, $"expected .npy format version 1.x–3.x, found {major}.{prefix[7]}.");

        Span<byte> lengthBytes = stackalloc byte[major == 1 ? 2 : 4];
        FileBytes.ReadExactly(file, lengthBytes, path, ".npy header length");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes) : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes || headerLength > file.Length)
            throw new DataFormatException(path, $"header length {headerLength} is impossible for a {file.Length}-byte file.");
        var headerBytes = new byte[headerLength];
        FileBytes.ReadExactly(file, headerBytes, path, ".npy header");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);

        var (dtype, elementSize, fortran, shape) = ParseHeader(header, path);
        long count = 1;
        foreach (var d in shape)
        {
            count *= d;
            FileBytes.CheckPayloadSize(count * elementSize, path, $".npy data of shape ({string.Join(", ", shape)})");
        }
        long dataBytes = count * elementSize;
        long available = file.Length - file.Position;
        if (available != dataBytes)
            throw new DataFormatException(path, $"shape ({string.Join(", ", shape)}) of {DescrOf(dtype)} needs {dataBytes} data bytes, file has {available}.");

        var raw = GC.AllocateUninitializedArray<byte>((int)dataBytes);
        FileBytes.ReadExactly(file, raw, path, ".npy data");
        var array = Decode(raw, dtype, shape, (int)count);
        return fortran ? ToCOrder(array) : array;
    }

    public static void Write(string path, int[] shape, ReadOnlySpan<float> data) => WriteRaw(path, shape, NpyDType.Float32, MemoryMarshal.AsBytes(data), data.Length);
    public static void Write(string path, int[] shape, ReadOnlySpan<double> data) => WriteRaw(path, shape, NpyDType.Float64, MemoryMarshal.AsBytes(data), data.Length);
    public static void Write(string path, int[] shape, ReadOnlySpan<byte> data) => WriteRaw(path, shape, NpyDType.UInt8, data, data.Length);
    public static void Write(string path, int[] shape, ReadOnlySpan<int> data) => WriteRaw(path, shape, NpyDType.Int32, MemoryMarshal.AsBytes(data), data.Length);
    public static void Write(string path, int[] shape, ReadOnlySpan<long> data) => WriteRaw(path, shape, NpyDType.Int64, MemoryMarshal.AsBytes(data), data.Length);

    private static void WriteRaw(string path, int[] shape, NpyDType dtype, ReadOnlySpan<byte> bytes, int count)
    {
        long expected = 1;
        foreach (var d in shape) expected *= d;
        if (expected != count)
            throw new ArgumentException($"Shape ({string.Join(", ", shape)}) needs {expected} values, got {count}.");

        // A 1-tuple needs its trailing comma in Python syntax: (5,).
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        string dict = $"{{'descr': '{DescrOf(dtype)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        bool v1 = dict.Length + 1 + 10 <= ushort.MaxValue;
        int prefixLength = v1 ? 10 : 12;
        int padded = (prefixLength + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(padded - prefixLength - 1) + "\n";

        using var file = File.Create(path);
        file.Write(Magic);
        file.WriteByte(v1 ? (byte)1 : (byte)2);
        file.WriteByte(0);
        Span<byte> length = stackalloc byte[v1 ? 2 : 4];
        if (v1) BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)header.Length);
        file.Write(length);
        file.Write(Encoding.Latin1.GetBytes(header));
        file.Write(bytes);
    }

    private static (NpyDType DType, int ElementSize, bool Fortran, int[] Shape) ParseHeader(string header, string path)
    {
        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shape = ShapePattern().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success)
            throw new DataFormatException(path, $"expected a header dict with 'descr', 'fortran_order' and 'shape', found {header.Trim()}.");

        (NpyDType dtype, int size) = descr.Groups[1].Value switch
        {
            "|u1" or "<u1" or "u1" => (NpyDType.UInt8, 1),
            "<i4" => (NpyDType.Int32, 4),
            "<i8" => (NpyDType.Int64, 8),
            "<f4" => (NpyDType.Float32, 4),
            "<f8" => (NpyDType.Float64, 8),
            var other => throw new DataFormatException(path, $"expected dtype |u1, <i4, <i8, <f4 or <f8 (little-endian), found '{other}'."),
        };

        var dims = new List<int>();
        foreach (var part in shape.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string digits = part.TrimEnd('L');
            if (!int.TryParse(digits, out int d) || d < 0)
                throw new DataFormatException(path, $"expected non-negative int32 dimensions in the shape, found '{part}'.");
            dims.Add(d);
        }
        return (dtype, size, fortran.Groups[1].Value == "True", dims.ToArray());
    }

    private static NpyArray Decode(byte[] raw, NpyDType dtype, int[] shape, int count) => dtype switch
    {
        NpyDType.UInt8 => new NpyArray(shape, dtype, Bytes: raw),
        NpyDType.Float32 => new NpyArray(shape, dtype, Floats: MemoryMarshal.Cast<byte, float>(raw).ToArray()),
        // NOTE: float64 is narrowed to float32, the engine's only precision.
        NpyDType.Float64 => new NpyArray(shape, dtype, Floats: Convert(MemoryMarshal.Cast<byte, double>(raw), count, v => (float)v)),
        NpyDType.Int32 => new NpyArray(shape, dtype, Longs: Convert(MemoryMarshal.Cast<byte, int>(raw), count, v => (long)v)),
        NpyDType.Int64 => new NpyArray(shape, dtype, Longs: MemoryMarshal.Cast<byte, long>(raw).ToArray()),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    private static TOut[] Convert<TIn, TOut>(ReadOnlySpan<TIn> source, int count, Func<TIn, TOut> convert)
    {
        var result = new TOut[count];
        for (int i = 0; i < count; i++) result[i] = convert(source[i]);
        return result;
    }

    /// <summary>Fortran (column-major) storage -> C (row-major): element (i0..ik) sits at Σ i_j·Π_{m&lt;j} d_m.</summary>
    private static NpyArray ToCOrder(NpyArray a) => a with
    {
        Bytes = a.Bytes is null ? null : Reorder(a.Bytes, a.Shape),
        Floats = a.Floats is null ? null : Reorder(a.Floats, a.Shape),
        Longs = a.Longs is null ? null : Reorder(a.Longs, a.Shape),
    };

    private static T[] Reorder<T>(T[] fortran, int[] shape)
    {
        var c = new T[fortran.Length];
        if (c.Length == 0) return c;
        var stride = new int[shape.Length];
        for (int j = 0, s = 1; j < shape.Length; s *= shape[j], j++) stride[j] = s;
        var index = new int[shape.Length];
        int source = 0;
        for (int i = 0; i < c.Length; i++)
        {
            c[i] = fortran[source];
            // Advance the C-order multi-index (last axis fastest), keeping the Fortran offset in step.
            for (int j = shape.Length - 1; j >= 0; j--)
            {
                index[j]++;
                source += stride[j];
                if (index[j] < shape[j]) break;
                source -= stride[j] * shape[j];
                index[j] = 0;
            }
        }
        return c;
    }

    private static string DescrOf(NpyDType dtype) => dtype switch
    {
        NpyDType.UInt8 => "|u1",
        NpyDType.Int32 => "<i4",
        NpyDType.Int64 => "<i8",
        NpyDType.Float32 => "<f4",
        _ => "<f8",
    };

    [GeneratedRegex(@"['""]descr['""]\s*:\s*['""]([^'""]*)['""]")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"['""]fortran_order['""]\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"['""]shape['""]\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
