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
    /// <paramref name="file"/> (seekable, owned by the result), transparently decompressed when it starts with
    /// the gzip magic 1f 8b. <paramref name="plainLength"/> is the file length when plain, null when gzipped.
    /// </summary>
    public static Stream MaybeGzip(Stream file, out long? plainLength)
    {
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

    /// <summary>
    /// Reads exactly <paramref name="length"/> bytes from a stream whose real length is unknown (gzip):
    /// the buffer grows with the data actually read, so a header claiming gigabytes costs nothing until
    /// the bytes exist.
    /// </summary>
    public static byte[] ReadExactlyGrowing(Stream stream, long length, string path, string what)
    {
        CheckPayloadSize(length, path, what);
        var buffer = new MemoryStream((int)Math.Min(length, 1 << 20));
        var chunk = new byte[1 << 16];
        while (buffer.Length < length)
        {
            int want = (int)Math.Min(chunk.Length, length - buffer.Length);
            int got;
            try
            {
                got = stream.Read(chunk, 0, want);
            }
            catch (InvalidDataException e)
            {
                throw new DataFormatException(path, $"corrupt gzip data while reading {what} ({e.Message}).", e);
            }
            if (got == 0)
                throw new DataFormatException(path, $"truncated: expected {length} bytes of {what}, found {buffer.Length}.");
            buffer.Write(chunk, 0, got);
        }
        return buffer.Length == buffer.Capacity ? buffer.GetBuffer() : buffer.ToArray();
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
