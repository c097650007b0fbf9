using System.Text.Json;
using System.Text.RegularExpressions;

namespace Circumvent.Data;

/// <summary>
/// The places a run's settings name for its inputs — a rooted file path ("/data/trigger.png") or a dataset spec with a
/// rooted path ("cifar10:/data/cifar10") — told apart from every other setting, so that what a run is can be compared
/// without where its inputs happen to be (a checkout moved, a cluster node that mounts the data elsewhere). Whether the
/// new place holds the same content is a separate question, answered by a digest of the content
/// (<see cref="ImageDataset.Digest"/>, <see cref="Sha256Hex.OfFile"/>).
/// </summary>
public static partial class InputLocations
{
    /// <summary>
    /// Whether <paramref name="text"/> names a place: a rooted path, or a dataset spec KIND:PATH with a rooted PATH (KIND a
    /// plain word, so "C:\…" and URLs are not taken for one). <paramref name="kind"/> is "" for a plain path.
    /// </summary>
    public static bool IsLocation(string text, out string kind, out string path)
    {
        kind = "";
        path = text;
        if (Path.IsPathRooted(text)) return true;
        int colon = text.IndexOf(':');
        if (colon > 0 && text[..colon].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') && Path.IsPathRooted(text[(colon + 1)..]))
        {
            kind = text[..colon];
            path = text[(colon + 1)..];
            return true;
        }
        return false;
    }

    /// <summary>
    /// <paramref name="key"/> (a run's settings as text: JSON, or JSON documents run together with other text) with every
    /// JSON string that is a location replaced by a placeholder of its kind ("&lt;cifar10 location&gt;"), so two keys
    /// that differ only in where their inputs are become equal, and a place turned into another kind of data does not.
    /// </summary>
    public static string WithoutPlaces(string key) => JsonString().Replace(key, match =>
        Decode(match.Value) is { } text && IsLocation(text, out var kind, out _) ? (kind.Length == 0 ? "\"<location>\"" : $"\"<{kind} location>\"") : match.Value);

    /// <summary>
    /// <paramref name="key"/> with every dataset spec among its JSON strings given as <see cref="DatasetSpec.WithFullPath"/>
    /// records it. Builds before session 19 recorded `--data` as written ("cifar10:../data"); a state such a build saved
    /// is compared in this form, so the same run resumes under the newer build (from the same working folder; from another
    /// the path differs and <see cref="WithoutPlaces"/> and the content decide, as for any moved input).
    /// </summary>
    public static string WithDataPathsRooted(string key) => JsonString().Replace(key, match =>
        Decode(match.Value) is { } text && DatasetSpec.WithFullPath(text) is var rooted && rooted != text ? JsonSerializer.Serialize(rooted) : match.Value);

    /// <summary>The paths of the locations among <paramref name="key"/>'s JSON strings, in order (a dataset spec's folder without its kind).</summary>
    public static IEnumerable<string> Paths(string key) =>
        JsonString().Matches(key).Select(m => Decode(m.Value)).OfType<string>()
            .Select(text => IsLocation(text, out _, out var path) ? path : null).OfType<string>();

    // A JSON string literal with its escapes, decoded; null when the quotes enclose something that is not one.
    private static string? Decode(string literal)
    {
        try { return JsonSerializer.Deserialize<string>(literal); }
        catch (JsonException) { return null; }
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex JsonString();
}
