using System.Buffers.Binary;
using System.Text;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Models;

/// <summary>Hand-built safetensors files (any header text, any data bytes) and a temporary folder for them.</summary>
internal sealed class SafeTensorsFiles : IDisposable
{
    public SafeTensorsFiles() => Directory.CreateDirectory(Folder);

    public string Folder { get; } = Scratch.NewFolder("models-");

    public string PathOf(string name) => Path.Combine(Folder, name);

    /// <summary>u64 length of <paramref name="header"/> (or <paramref name="declaredLength"/>), the header, then <paramref name="data"/>.</summary>
    public string Raw(string name, string header, byte[] data, ulong? declaredLength = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + headerBytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)headerBytes.Length);
        headerBytes.CopyTo(file, 8);
        data.CopyTo(file, 8 + headerBytes.Length);
        var path = PathOf(name);
        File.WriteAllBytes(path, file);
        return path;
    }

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }
}
