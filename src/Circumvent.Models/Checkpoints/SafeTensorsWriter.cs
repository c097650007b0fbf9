using System.Runtime.InteropServices;
using System.Text.Json;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Writes the safetensors format: u64 little-endian header length N, N bytes of UTF-8 JSON
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}} padded with spaces so the
/// data starts 8-byte aligned, then the tensors back to back in the given order.
/// </summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writing assumes a little-endian machine.");
        var header = BuildHeader(path, tensors, metadata);
        try
        {
            AtomicFile.Write(path, stream =>
            {
                Span<byte> length = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                foreach (var t in tensors)
                {
                    if (t.IsFloat) stream.Write(MemoryMarshal.AsBytes(t.Floats.AsSpan()));
                    else stream.Write(MemoryMarshal.AsBytes(t.Int64s.AsSpan()));
                }
            });
        }
        catch (IOException e)
        {
            throw new CheckpointException(path, $"cannot write the file: {e.Message}", inner: e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CheckpointException(path, $"cannot write the file: {e.Message}", inner: e);
        }
    }

    /// <summary>The JSON header, space-padded to a multiple of 8 bytes (the 8-byte length prefix keeps the data aligned).</summary>
    private static byte[] BuildHeader(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                if (t.Name.Length == 0 || t.Name == "__metadata__" || !names.Add(t.Name))
                    throw new CheckpointException(path, "tensor names must be non-empty, unique and not '__metadata__'.", t.Name);
                var dtype = t.IsFloat ? SafeTensorDType.F32 : SafeTensorDType.I64;
                long end = offset + (long)t.ElementCount * SafeTensor.ElementSize(dtype);
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", dtype.ToString());
                json.WriteStartArray("shape");
                foreach (var d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}

/// <summary>Writes a file through a temporary sibling and a rename, so readers see the old file or the complete new one, never a partial one.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full) ?? throw new IOException($"'{path}' has no parent folder.");
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            // The temp file is ours alone; remove it so a failed write leaves nothing behind, then report the original error.
            if (File.Exists(temp)) File.Delete(temp);
            throw;
        }
    }
}
