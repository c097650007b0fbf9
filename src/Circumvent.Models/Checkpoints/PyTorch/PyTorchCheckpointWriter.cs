using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// Writes a state_dict as torch.save does (zip format): `archive/data.pkl` is an OrderedDict of
/// `_rebuild_tensor_v2` calls over one FloatStorage (or LongStorage for integer buffers) per tensor,
/// `archive/data/{i}` the raw little-endian storages (stored, uncompressed), `archive/version` and
/// `archive/byteorder`. `torch.load(path, weights_only=True)` reads it; Circumvent's metadata goes in
/// an extra entry torch ignores. Written through a temporary file and a rename.
/// </summary>
public static class PyTorchCheckpointWriter
{
    private const string Folder = "archive/";

    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("checkpoint writing assumes a little-endian machine.");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
            if (t.Name.Length == 0 || !names.Add(t.Name))
                throw new CheckpointException(path, "tensor names must be non-empty and unique.", t.Name);
        var pickle = Pickle(tensors);
        try
        {
            AtomicFile.Write(path, stream =>
            {
                using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
                Add(zip, "data.pkl", pickle);
                Add(zip, "byteorder", Encoding.ASCII.GetBytes("little"));
                for (int i = 0; i < tensors.Count; i++)
                {
                    var t = tensors[i];
                    Add(zip, $"data/{i}", t.IsFloat ? MemoryMarshal.AsBytes(t.Floats.AsSpan()) : MemoryMarshal.AsBytes(t.Int64s.AsSpan()));
                }
                Add(zip, "version", Encoding.ASCII.GetBytes("3\n"));
                if (metadata is { Count: > 0 }) Add(zip, PyTorchCheckpointReader.MetadataEntry, JsonSerializer.SerializeToUtf8Bytes(metadata));
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"cannot write the file: {e.Message}", inner: e);
        }
    }

    /// <summary>OrderedDict([(name, _rebuild_tensor_v2(storage_i, 0, shape, contiguous strides, False, OrderedDict())), ...]).</summary>
    private static byte[] Pickle(IReadOnlyList<SafeTensor> tensors)
    {
        var p = new PickleWriter();
        p.Proto();
        p.EmptyOrderedDict();
        p.Mark();
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            p.String(t.Name);
            p.RebuildTensor(TorchDTypes.StorageClass(t.IsFloat ? TorchDType.Float32 : TorchDType.Int64),
                i.ToString(System.Globalization.CultureInfo.InvariantCulture), t.ElementCount, 0, t.Shape.Select(d => (long)d), ContiguousStrides(t.Shape));
        }
        p.SetItems();
        p.Stop();
        return p.ToArray();
    }

    private static long[] ContiguousStrides(int[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= shape[i];
        }
        return strides;
    }

    private static void Add(ZipArchive zip, string name, ReadOnlySpan<byte> bytes)
    {
        var entry = zip.CreateEntry(Folder + name, CompressionLevel.NoCompression);
        using var stream = entry.Open();
        stream.Write(bytes);
    }
}
