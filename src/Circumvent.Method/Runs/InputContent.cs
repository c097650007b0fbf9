using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Circumvent.Data;

namespace Circumvent.Method.Runs;

/// <summary>
/// What a run's inputs contained, recorded beside where they were (a run folder's <c>input.content</c>): a SHA-256 of the
/// images and labels the run uses and one of every input file its identity names by path. With it a run folder whose
/// data or trigger has since moved (a checkout moved, a cluster node that mounts the data elsewhere) resumes, since the
/// same content at a new place is the same run (<see cref="RunFolder.Open"/>); without it the path is all there is.
/// </summary>
public static class InputContent
{
    public const string Field = "content";

    /// <summary>{"data": digest of <paramref name="sets"/>, "files": {"attack.trigger_image": sha256, …}} for <paramref name="identity"/>.</summary>
    public static JsonObject Of(JsonObject identity, params ImageDataset[] sets)
    {
        var files = new JsonObject();
        foreach (var (at, path) in Locations(identity, ""))
            if (File.Exists(path)) files[at] = Sha256Hex.OfFile(path);
        return new JsonObject { ["data"] = Digest(sets), ["files"] = files };
    }

    /// <summary>SHA-256 over each set's shape, pixels and labels, in order.</summary>
    public static string Digest(IEnumerable<ImageDataset> sets)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<int> shape = stackalloc int[4];
        foreach (var set in sets)
        {
            shape[0] = set.Count; shape[1] = set.Channels; shape[2] = set.Height; shape[3] = set.Width;
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(shape));
            hash.AppendData(set.Pixels);
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(set.Labels.AsSpan()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

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
    /// Whether two configs are the same but for where their inputs are: equal everywhere except at strings that are
    /// locations of the same kind in both (<see cref="IsLocation"/>). Whether those places hold the same content is what
    /// <c>input.content</c> says; this checks only that nothing else differs.
    /// </summary>
    public static bool SameButLocations(JsonNode? stored, JsonNode? wanted) => (stored, wanted) switch
    {
        (JsonObject a, JsonObject b) => a.Count == b.Count && a.All(kv => b.TryGetPropertyValue(kv.Key, out var other) && SameButLocations(kv.Value, other)),
        (JsonArray a, JsonArray b) => a.Count == b.Count && a.Zip(b).All(p => SameButLocations(p.First, p.Second)),
        (JsonValue a, JsonValue b) when a.TryGetValue<string>(out var x) && b.TryGetValue<string>(out var y) =>
            x == y || (IsLocation(x, out var kindX, out _) && IsLocation(y, out var kindY, out _) && kindX == kindY),
        _ => JsonNode.DeepEquals(stored, wanted),
    };

    // Every location string under node, with its dotted place ("attack.trigger_image", "attack.references.0").
    private static IEnumerable<(string At, string Path)> Locations(JsonNode? node, string at) => node switch
    {
        JsonObject o => o.SelectMany(kv => Locations(kv.Value, at.Length == 0 ? kv.Key : $"{at}.{kv.Key}")),
        JsonArray a => a.SelectMany((item, i) => Locations(item, $"{at}.{i}")),
        JsonValue v when v.TryGetValue<string>(out var text) && IsLocation(text, out _, out var path) => [(at, path)],
        _ => [],
    };
}
