using System.Security.Cryptography;
using System.Text;

namespace Circumvent.Data;

/// <summary>SHA-256 in lower-case hex: of a file's bytes (to record what a result was made from), or short, of a text (a key for names).</summary>
public static class Sha256Hex
{
    public static string OfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The SHA-256 of <paramref name="text"/>'s UTF-8 bytes.</summary>
    public static string OfText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The first 16 hex digits of the SHA-256 of <paramref name="text"/>'s UTF-8 bytes.</summary>
    public static string ShortOf(string text) => OfText(text)[..16];
}
