using System.IO.Compression;

namespace Circumvent.Data.Formats;

/// <summary>Shared plumbing for the readers: opening (optionally gzipped) files and bounded reads.</summary>
internal static class FileBytes
{
    /// <summary>Largest payload any reader will allocate for (bytes); protects against absurd headers.</summary>
    public const long MaxPayloadBytes = 2L * 1024 * 1024 * 1024 - 64;

    public static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DataFormatException(path, "file not found.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot be read ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/>, transparently decompressing when it starts with the gzip magic 1f 8b.
    /// <paramref name="plainLength"/> is the file length when the file is plain, null when gzipped.
    /// </summary>
    public static Stream OpenMaybeGzip(string path, out long? plainLength)
    {
        var file = OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        int n = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            plainLength = null;
            return new GZipStream(file, CompressionMode.Decompress);
        }
        plainLength = file.Length;
        return file;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or throws a truncation error naming <paramref name="what"/>.</summary>
    public static void ReadExactly(Stream stream, Span<byte> buffer, string path, string what)
    {
        int got;
        try
        {
            got = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"corrupt gzip data while reading {what} ({e.Message}).", e);
        }
        if (got < buffer.Length)
            throw new DataFormatException(path, $"truncated: expected {buffer.Length} bytes of {what}, found {got}.");
    }

    /// <summary>Throws when the stream has data after the expected payload.</summary>
    public static void ExpectEnd(Stream stream, string path, string what)
    {
        Span<byte> probe = stackalloc byte[1];
        int extra;
        try
        {
            extra = stream.Read(probe);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, $"corrupt gzip data after {what} ({e.Message}).", e);
        }
        if (extra != 0)
            throw new DataFormatException(path, $"has extra bytes after the {what} the header describes.");
    }

    public static void CheckPayloadSize(long bytes, string path, string what)
    {
        if (bytes < 0 || bytes > MaxPayloadBytes)
            throw new DataFormatException(path, $"header describes {what} of {bytes} bytes, more than the {MaxPayloadBytes}-byte limit (corrupt header?).");
    }
}
