using System.IO.Compression;
using System.Runtime.InteropServices;
using Circumvent.Models.Checkpoints.PyTorch;

namespace Circumvent.Tests.Models.PyTorch;

/// <summary>Hand-made .pth files: any pickle plus raw storages, zipped the way torch.save lays them out.</summary>
internal static class PthBuilder
{
    public static byte[] Zip(byte[] pickle, IReadOnlyDictionary<string, byte[]>? storages = null, string folder = "archive/")
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(zip, folder + "data.pkl", pickle);
            foreach (var (key, bytes) in storages ?? new Dictionary<string, byte[]>()) Add(zip, folder + "data/" + key, bytes);
            Add(zip, folder + "version", "3\n"u8.ToArray());
        }
        return buffer.ToArray();
    }

    /// <summary>{"w": _rebuild_tensor_v2(FloatStorage '0' of <paramref name="numel"/>, offset, size, stride)}.</summary>
    public static byte[] OneTensorPickle(long numel, long offset, long[] size, long[] stride, string storageClass = "FloatStorage")
    {
        var p = new PickleWriter();
        p.Proto();
        p.EmptyOrderedDict();
        p.Mark();
        p.String("w");
        p.RebuildTensor(storageClass, "0", numel, offset, size, stride);
        p.SetItems();
        p.Stop();
        return p.ToArray();
    }

    /// <summary>A pickle that calls <paramref name="module"/>.<paramref name="name"/>(<paramref name="argument"/>) when Python unpickles it.</summary>
    public static byte[] CallPickle(string module, string name, string argument)
    {
        var p = new PickleWriter();
        p.Proto();
        p.Global(module, name);
        p.Mark();
        p.String(argument);
        p.Tuple();
        p.Reduce();
        p.Stop();
        return p.ToArray();
    }

    public static byte[] Floats(params float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static void Add(ZipArchive zip, string name, byte[] bytes)
    {
        using var stream = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        stream.Write(bytes);
    }
}
