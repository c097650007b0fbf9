using Circumvent.Models.Checkpoints.PyTorch;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Reads or writes a checkpoint in whichever format its path or content names: PyTorch's zip format
/// (`.pt`, `.pth`, or any file starting with the zip magic) or safetensors (everything else).
/// </summary>
public static class CheckpointFiles
{
    private static readonly string[] PyTorchExtensions = [".pt", ".pth", ".bin", ".ckpt", ".tar"];

    /// <summary>
    /// The extensions an output checkpoint may have: safetensors, or PyTorch's .pth/.pt. Other names are
    /// refused, since "model.txt" or a bare "purified" would silently become safetensors.
    /// </summary>
    public static IReadOnlyList<string> OutputExtensions { get; } = [".safetensors", ".pth", ".pt"];

    /// <summary>Whether a checkpoint written to <paramref name="path"/> uses PyTorch's format (by extension).</summary>
    public static bool IsPyTorchPath(string path) =>
        PyTorchExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>Every tensor (as stored, names as the state_dict has them) and the metadata, if any.</summary>
    public static SafeTensorsContent Read(string path)
    {
        Span<byte> start = stackalloc byte[8];
        int n;
        try
        {
            using var file = File.OpenRead(path);
            n = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"cannot read the file: {e.Message}", inner: e);
        }
        if (PyTorchCheckpointReader.LooksLikeZip(start[..n])) return PyTorchCheckpointReader.Read(path);
        // The legacy torch.save format is a bare pickle: protocol-2 opcode 0x80 0x02 then a magic number.
        if (IsPyTorchPath(path) && n >= 2 && start[0] == 0x80 && start[1] == 0x02)
            throw new CheckpointException(path,
                "uses the legacy torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False); re-save it with a current PyTorch.");
        if (IsPyTorchPath(path))
            throw new CheckpointException(path, "is not a PyTorch zip checkpoint (it does not start with the zip signature PK\\x03\\x04).");
        return SafeTensorsReader.Read(path);
    }

    /// <summary>Writes a state_dict in the format <paramref name="path"/>'s extension names.</summary>
    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        if (IsPyTorchPath(path)) PyTorchCheckpointWriter.Write(path, tensors, metadata);
        else SafeTensorsWriter.Write(path, tensors, metadata);
    }
}

/// <summary>What to do with NaN or ±Inf in a checkpoint's weights.</summary>
public enum NonFinitePolicy
{
    /// <summary>Refuse the checkpoint (the default: such a model gives NaN logits and cannot be purified).</summary>
    Reject,
    /// <summary>Load it and record a warning per affected tensor.</summary>
    Warn,
}

internal static class NonFiniteCheck
{
    /// <summary>A one-line description of the tensor's non-finite values, or null when all are finite.</summary>
    public static string? Describe(SafeTensor t)
    {
        if (!t.IsFloat) return null;
        int count = 0, first = -1;
        var values = t.Floats!;
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
            {
                if (count++ == 0) first = i;
            }
        return count == 0 ? null : $"{count} of its {values.Length} values are NaN or infinite (first at flat index {first}: {values[first]})";
    }
}
