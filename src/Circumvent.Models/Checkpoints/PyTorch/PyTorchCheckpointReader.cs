using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// Reads `.pt`/`.pth` files in the zip format torch.save writes since PyTorch 1.6: `{folder}/data.pkl`
/// (the pickled state_dict, with tensors as persistent references to storages) and one raw
/// little-endian entry `{folder}/data/{key}` per storage. The pickle goes through
/// <see cref="RestrictedUnpickler"/>, which never executes anything. Floating tensors become float32,
/// integer tensors int64; views (storage offset, any strides) are gathered into contiguous tensors.
/// Every problem is a <see cref="CheckpointException"/> naming the file and, when known, the tensor.
/// </summary>
public static class PyTorchCheckpointReader
{
    /// <summary>A state_dict pickle is ~100 bytes per tensor; 64 MiB is far above any real one.</summary>
    private const long MaxPickleBytes = 64L << 20;
    /// <summary>Largest storage read into one array.</summary>
    private const long MaxStorageBytes = int.MaxValue - 64;
    /// <summary>Extra zip entry holding Circumvent's metadata (written by <see cref="PyTorchCheckpointWriter"/>); PyTorch ignores it.</summary>
    internal const string MetadataEntry = "extra/circumvent_metadata.json";

    /// <summary>The "PK\x03\x04" a zip file (and so a current .pth) starts with.</summary>
    public static bool LooksLikeZip(ReadOnlySpan<byte> start) => start.Length >= 4 && start[0] == 'P' && start[1] == 'K' && start[2] == 3 && start[3] == 4;

    public static SafeTensorsContent Read(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"cannot read the file: {e.Message}", inner: e);
        }
        using (file) return Parse(path, file);
    }

    /// <summary>Parses a checkpoint from a seekable stream; <paramref name="path"/> only labels errors.</summary>
    public static SafeTensorsContent Parse(string path, Stream stream)
    {
        try
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            var archive = new ArchiveEntries(path, zip);
            var tensors = Decode(path, archive.ReadPickle(), archive.ReadStorage);
            return new SafeTensorsContent(tensors, archive.ReadMetadata());
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            throw new CheckpointException(path, $"not a readable PyTorch zip checkpoint ({e.Message}).", inner: e);
        }
    }

    /// <summary>Reads storage bytes: (key, tensor name for errors, exact byte count) → bytes.</summary>
    internal delegate byte[] StorageSource(string key, string tensorName, long expectedBytes);

    /// <summary>The pickle → state_dict tensors, storages fetched from <paramref name="storages"/> (the zip, or a test's dictionary).</summary>
    internal static List<SafeTensor> Decode(string path, byte[] pickle, StorageSource storages)
    {
        object? root;
        try
        {
            root = RestrictedUnpickler.Load(pickle);
        }
        catch (PickleException e)
        {
            throw new CheckpointException(path, $"data.pkl: {e.Message}", inner: e);
        }
        List<(string Name, TensorRef Tensor)> entries;
        try
        {
            entries = StateDictLocator.Find(root);
        }
        catch (PickleException e)
        {
            throw new CheckpointException(path, e.Message, inner: e);
        }
        var tensors = new List<SafeTensor>(entries.Count);
        var cache = new Dictionary<string, (StorageRef Ref, byte[] Bytes)>(StringComparer.Ordinal);
        foreach (var (name, tensor) in entries)
            tensors.Add(Materialize(path, name, tensor, StorageBytes(path, storages, cache, name, tensor.Storage)));
        return tensors;
    }

    private static byte[] StorageBytes(string path, StorageSource storages, Dictionary<string, (StorageRef Ref, byte[] Bytes)> cache, string tensorName, StorageRef storage)
    {
        if (cache.TryGetValue(storage.Key, out var known))
        {
            if (known.Ref.DType != storage.DType || known.Ref.ElementCount != storage.ElementCount)
                throw new CheckpointException(path, $"storage '{storage.Key}' is referenced as {known.Ref.DType}[{known.Ref.ElementCount}] and as {storage.DType}[{storage.ElementCount}].", tensorName);
            return known.Bytes;
        }
        long expected = storage.ElementCount * TorchDTypes.ElementSize(storage.DType);
        if (storage.ElementCount > MaxStorageBytes || expected > MaxStorageBytes)
            throw new CheckpointException(path, $"storage '{storage.Key}' claims {storage.ElementCount} elements, more than the {MaxStorageBytes}-byte limit.", tensorName);
        var bytes = storages(storage.Key, tensorName, expected);
        cache[storage.Key] = (storage, bytes);
        return bytes;
    }

    /// <summary>Gathers the view into a contiguous tensor (C order) after checking it lies inside its storage.</summary>
    private static SafeTensor Materialize(string path, string name, TensorRef t, byte[] storage)
    {
        long count = 1;
        foreach (var d in t.Size)
        {
            if (d > int.MaxValue) throw new CheckpointException(path, $"dimension {d} is too large.", name);
            count *= d;
            if (count > int.MaxValue) throw new CheckpointException(path, $"size ({string.Join(", ", t.Size)}) has too many elements.", name);
        }
        long numel = t.Storage.ElementCount;
        if (count > 0)
        {
            // Highest element the view touches; each term is bounded by the storage size before it is added.
            long last = t.Offset;
            for (int i = 0; i < t.Size.Length; i++)
            {
                if (t.Size[i] > 1 && t.Stride[i] >= numel)
                    throw new CheckpointException(path, $"stride {t.Stride[i]} of dimension {i} reaches past its {numel}-element storage.", name);
                last += (t.Size[i] - 1) * t.Stride[i];
                if (last >= numel) break;
            }
            if (t.Offset >= numel || last >= numel)
                throw new CheckpointException(path,
                    $"view (offset {t.Offset}, size ({string.Join(", ", t.Size)}), stride ({string.Join(", ", t.Stride)})) reaches past its {numel}-element storage '{t.Storage.Key}'.", name);
        }

        var shape = t.Size.Select(d => (int)d).ToArray();
        var dtype = TorchDTypes.ToSafeTensor(t.Storage.DType);
        var order = ElementOrder(t, (int)count);
        if (SafeTensor.IsFloatType(dtype))
        {
            var values = new float[count];
            for (int i = 0; i < values.Length; i++) values[i] = ElementDecoding.Float(dtype, storage, order[i]);
            return SafeTensor.FromFloats(name, shape, values, dtype);
        }
        var ints = new long[count];
        for (int i = 0; i < ints.Length; i++) ints[i] = ElementDecoding.Integer(dtype, storage, order[i]);
        return SafeTensor.FromInt64s(name, shape, ints, dtype);
    }

    /// <summary>Storage index of each element of the view, in C order (last dimension fastest).</summary>
    private static long[] ElementOrder(TensorRef t, int count)
    {
        var order = new long[count];
        if (count == 0) return order;
        int rank = t.Size.Length;
        var index = new long[rank];
        long at = t.Offset;
        for (int i = 0; i < count; i++)
        {
            order[i] = at;
            for (int d = rank - 1; d >= 0; d--)
            {
                index[d]++;
                at += t.Stride[d];
                if (index[d] < t.Size[d]) break;
                at -= t.Stride[d] * t.Size[d];
                index[d] = 0;
            }
        }
        return order;
    }

    /// <summary>The zip's entries under the checkpoint's folder (whatever torch named it: "archive", the file stem...).</summary>
    private sealed class ArchiveEntries
    {
        private readonly ZipArchive _zip;
        private readonly string _prefix;

        public ArchiveEntries(string path, ZipArchive zip)
        {
            Path = path;
            _zip = zip;
            var pickles = zip.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)).ToList();
            if (pickles.Count == 0)
                throw new CheckpointException(path, "is a zip file without a data.pkl entry, so not a PyTorch checkpoint.");
            if (pickles.Count > 1)
                throw new CheckpointException(path, $"has {pickles.Count} data.pkl entries ({string.Join(", ", pickles.Take(3).Select(e => e.FullName))}); expected one.");
            _prefix = pickles[0].FullName[..^"data.pkl".Length];
            if (_prefix.Length > 0 && (!_prefix.EndsWith('/') || _prefix.IndexOf('/') != _prefix.Length - 1))
                throw new CheckpointException(path, $"data.pkl sits at '{pickles[0].FullName}'; expected FOLDER/data.pkl.");
            if (Find("constants.pkl") is not null || zip.Entries.Any(e => e.FullName.StartsWith(_prefix + "code/", StringComparison.Ordinal)))
                throw new CheckpointException(path, "is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead.");
            if (Find("byteorder") is { } order && ReadText(order, 16).Trim() is var byteOrder && byteOrder != "little")
                throw new CheckpointException(path, $"stores its tensors in '{byteOrder}' byte order; only little-endian checkpoints are supported.");
        }

        public string Path { get; }

        public byte[] ReadPickle()
        {
            var entry = Find("data.pkl")!;
            if (entry.Length > MaxPickleBytes)
                throw new CheckpointException(Path, $"data.pkl is {entry.Length} bytes, more than the {MaxPickleBytes}-byte limit for a state_dict pickle.");
            return ReadExactly(entry, entry.Length, "data.pkl", null);
        }

        public byte[] ReadStorage(string key, string tensorName, long expectedBytes)
        {
            var entry = Find("data/" + key)
                        ?? throw new CheckpointException(Path, $"its storage '{key}' has no entry '{_prefix}data/{key}' in the zip.", tensorName);
            if (entry.Length != expectedBytes)
                throw new CheckpointException(Path, $"storage '{key}' needs {expectedBytes} bytes, its zip entry holds {entry.Length}.", tensorName);
            return ReadExactly(entry, expectedBytes, $"storage '{key}'", tensorName);
        }

        /// <summary>Circumvent's own metadata when this file was written by Circumvent, otherwise none.</summary>
        public IReadOnlyDictionary<string, string> ReadMetadata()
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (Find(MetadataEntry) is not { } entry) return metadata;
            try
            {
                using var doc = JsonDocument.Parse(ReadText(entry, MaxPickleBytes));
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
                foreach (var item in doc.RootElement.EnumerateObject())
                    metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()! : throw new JsonException($"'{item.Name}' is not a string");
            }
            catch (JsonException e)
            {
                throw new CheckpointException(Path, $"{MetadataEntry} is not a JSON object of strings: {e.Message}", inner: e);
            }
            return metadata;
        }

        private ZipArchiveEntry? Find(string name) => _zip.GetEntry(_prefix + name);

        private string ReadText(ZipArchiveEntry entry, long limit)
        {
            if (entry.Length > limit) throw new CheckpointException(Path, $"entry '{entry.FullName}' is {entry.Length} bytes, more than expected.");
            return Encoding.UTF8.GetString(ReadExactly(entry, entry.Length, entry.FullName, null));
        }

        /// <summary>
        /// Reads an entry that must hold exactly <paramref name="length"/> bytes. A zip's sizes can lie, so
        /// the buffer grows with the bytes actually decompressed instead of trusting the header up front.
        /// </summary>
        private byte[] ReadExactly(ZipArchiveEntry entry, long length, string what, string? tensorName)
        {
            using var stream = entry.Open();
            var buffer = new MemoryStream((int)Math.Min(length, 1 << 20));
            var chunk = new byte[1 << 16];
            int got;
            while ((got = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, length + 1 - buffer.Length))) > 0)
            {
                buffer.Write(chunk, 0, got);
                if (buffer.Length > length) break;
            }
            if (buffer.Length != length)
                throw new CheckpointException(Path, $"{what}: zip entry does not hold the {length} bytes its header states.", tensorName);
            return buffer.Length == buffer.Capacity ? buffer.GetBuffer() : buffer.ToArray();
        }
    }
}
