using System.Buffers.Binary;
using System.Text.Json;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Reads safetensors files (F32, F16, BF16, F64 → float32; I64, I32, I16, I8, U8, BOOL → int64) and rejects anything malformed with
/// a <see cref="CheckpointException"/> naming the file and tensor: short files, impossible header
/// lengths, invalid JSON, unknown dtypes, byte counts that do not match the shape, offsets outside the
/// buffer, overlapping tensors or bytes no tensor owns.
/// </summary>
public static class SafeTensorsReader
{
    /// <summary>Same cap as the reference implementation: a header above 100 MB is treated as corrupt.</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static SafeTensorsContent Read(string path)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"cannot read the file: {e.Message}", inner: e);
        }
        return Parse(path, file);
    }

    /// <summary>Parses an in-memory file; <paramref name="path"/> only labels errors.</summary>
    public static SafeTensorsContent Parse(string path, ReadOnlySpan<byte> file)
    {
        if (file.Length < 8)
            throw new CheckpointException(path, $"truncated: {file.Length} bytes, but a safetensors file starts with an 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes || headerLength > (ulong)(file.Length - 8))
            throw new CheckpointException(path,
                $"header length {headerLength} exceeds the {file.Length - 8} bytes after the length prefix (truncated or not a safetensors file).");
        var header = file.Slice(8, (int)headerLength);
        var buffer = file[(8 + (int)headerLength)..];

        JsonDocument doc;
        try
        {
            // NOTE: JsonDocument accepts invalid UTF-8 inside strings and only fails when a name is read; check it all first.
            _ = StrictUtf8.GetCharCount(header);
            doc = JsonDocument.Parse(header.ToArray());
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new CheckpointException(path, $"header is not valid UTF-8 JSON: {e.Message}", inner: e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(path, $"header must be a JSON object, found {doc.RootElement.ValueKind}.");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<HeaderEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new CheckpointException(path, "appears twice in the header.", property.Name);
                if (property.Name == "__metadata__") ReadMetadata(path, property.Value, metadata);
                else entries.Add(ReadEntry(path, property.Name, property.Value, buffer.Length));
            }
            CheckLayout(path, entries, buffer.Length);
            var tensors = new List<SafeTensor>(entries.Count);
            foreach (var e in entries) tensors.Add(Decode(e, buffer.Slice((int)e.Begin, (int)(e.End - e.Begin))));
            return new SafeTensorsContent(tensors, metadata);
        }
    }

    private sealed record HeaderEntry(string Name, SafeTensorDType DType, int[] Shape, long Begin, long End);

    private static void ReadMetadata(string path, JsonElement element, Dictionary<string, string> metadata)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, $"__metadata__ must be an object of strings, found {element.ValueKind}.");
        foreach (var item in element.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointException(path, $"__metadata__ entry '{item.Name}' must be a string, found {item.Value.ValueKind}.");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static HeaderEntry ReadEntry(string path, string name, JsonElement e, int bufferLength)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, $"header entry must be an object with dtype, shape and data_offsets, found {e.ValueKind}.", name);
        if (!e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointException(path, "header entry has no string 'dtype'.", name);
        var dtypeText = dtypeElement.GetString()!;
        if (!Enum.TryParse<SafeTensorDType>(dtypeText, ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype) || dtypeText != dtype.ToString())
            throw new CheckpointException(path, $"unsupported dtype '{dtypeText}' (supported: {string.Join(", ", Enum.GetNames<SafeTensorDType>())}).", name);

        var shape = ReadIntegers(path, name, e, "shape", expectedCount: null);
        var offsets = ReadIntegers(path, name, e, "data_offsets", expectedCount: 2);
        long begin = offsets[0], end = offsets[1];
        if (begin > end || end > bufferLength)
            throw new CheckpointException(path,
                $"data_offsets [{begin}, {end}] fall outside the {bufferLength}-byte data buffer (truncated file or corrupt header).", name);

        long elements = 1;
        foreach (var d in shape)
        {
            if (d > int.MaxValue) throw new CheckpointException(path, $"shape dimension {d} is too large.", name);
            elements *= d;
            if (elements > int.MaxValue) throw new CheckpointException(path, $"shape ({string.Join(", ", shape)}) has too many elements.", name);
        }
        long expectedBytes = elements * SafeTensor.ElementSize(dtype);
        if (end - begin != expectedBytes)
            throw new CheckpointException(path,
                $"{dtype} shape ({string.Join(", ", shape)}) needs {expectedBytes} bytes, but data_offsets [{begin}, {end}] hold {end - begin}.", name);
        return new HeaderEntry(name, dtype, [.. shape.Select(d => (int)d)], begin, end);
    }

    private static long[] ReadIntegers(string path, string name, JsonElement e, string key, int? expectedCount)
    {
        if (!e.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new CheckpointException(path, $"header entry has no '{key}' array.", name);
        var values = new List<long>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var v) || v < 0)
                throw new CheckpointException(path, $"'{key}' must hold non-negative integers, found {item.GetRawText()}.", name);
            values.Add(v);
        }
        if (expectedCount is int n && values.Count != n)
            throw new CheckpointException(path, $"'{key}' must hold {n} integers, found {values.Count}.", name);
        return [.. values];
    }

    /// <summary>The tensors must tile the data buffer exactly: no overlaps, no gaps, nothing left over.</summary>
    private static void CheckLayout(string path, List<HeaderEntry> entries, int bufferLength)
    {
        long covered = 0;
        HeaderEntry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < covered)
                throw new CheckpointException(path,
                    $"data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}].", e.Name);
            if (e.Begin > covered)
                throw new CheckpointException(path, $"bytes [{covered}, {e.Begin}) of the data buffer belong to no tensor.");
            covered = e.End;
            previous = e;
        }
        if (covered != bufferLength)
            throw new CheckpointException(path, $"data buffer has {bufferLength} bytes but the tensors describe only {covered}.");
    }

    private static SafeTensor Decode(HeaderEntry e, ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length / SafeTensor.ElementSize(e.DType);
        if (SafeTensor.IsFloatType(e.DType))
            return SafeTensor.FromFloats(e.Name, e.Shape, ElementDecoding.Floats(e.DType, bytes, n), e.DType);
        return SafeTensor.FromInt64s(e.Name, e.Shape, ElementDecoding.Integers(e.DType, bytes, n), e.DType);
    }
}
