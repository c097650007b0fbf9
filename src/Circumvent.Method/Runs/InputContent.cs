using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Training;

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
        return new JsonObject { ["data"] = ImageDataset.Digest(sets), ["files"] = files };
    }

    /// <summary>
    /// What a training state's inputs hold (<see cref="TrainingStateFile.InputDigest"/>): a SHA-256 over the digest of
    /// <paramref name="sets"/> and the SHA-256 of every existing file among <paramref name="key"/>'s locations, in order.
    /// Computed once, when first asked for: a state's first write, or a resume of a state that recorded one.
    /// </summary>
    public static Func<string> OfKey(string key, params ImageDataset[] sets) => OfKey(key, new Lazy<string>(() => ImageDataset.Digest(sets)));

    /// <summary>As above, with the sets' digest given (computed once for a training that keeps several states).</summary>
    public static Func<string> OfKey(string key, Lazy<string> setsDigest) => () =>
    {
        var parts = new List<string> { setsDigest.Value };
        parts.AddRange(InputLocations.Paths(key).Where(File.Exists).Select(Sha256Hex.OfFile));
        return Sha256Hex.OfText(string.Join("\n", parts));
    };

    /// <summary>
    /// The file in a shared <paramref name="store"/> (a plan cache's input-aware masks, SSBA encoders) for work of
    /// <paramref name="key"/>: named by the key without the places of its inputs and by what they hold
    /// (<paramref name="digest"/>), so a plan moved with its data, or a node that mounts it elsewhere, finds what was
    /// trained before. An entry named as before this (by the whole key) is still used where it is.
    /// </summary>
    public static string StorePath(string store, string key, Func<string> digest, string suffix)
    {
        string named = Path.Combine(store, Sha256Hex.ShortOf(InputLocations.WithoutPlaces(key) + "\n" + digest()) + suffix);
        string earlier = Path.Combine(store, Sha256Hex.ShortOf(key) + suffix);
        return !File.Exists(named) && File.Exists(earlier) ? earlier : named;
    }

    /// <summary>
    /// Whether two configs are the same but for where their inputs are: equal everywhere except at strings that are
    /// locations of the same kind in both (<see cref="InputLocations.IsLocation"/>). Whether those places hold the same content is what
    /// <c>input.content</c> says; this checks only that nothing else differs.
    /// </summary>
    public static bool SameButLocations(JsonNode? stored, JsonNode? wanted) => (stored, wanted) switch
    {
        (JsonObject a, JsonObject b) => a.Count == b.Count && a.All(kv => b.TryGetPropertyValue(kv.Key, out var other) && SameButLocations(kv.Value, other)),
        (JsonArray a, JsonArray b) => a.Count == b.Count && a.Zip(b).All(p => SameButLocations(p.First, p.Second)),
        (JsonValue a, JsonValue b) when a.TryGetValue<string>(out var x) && b.TryGetValue<string>(out var y) => SameOrMoved(x, y),
        _ => JsonNode.DeepEquals(stored, wanted),
    };

    // Equal text, or two places of the same kind. A relative --data, as builds before session 19 recorded it, is compared
    // made absolute (DatasetSpec.WithFullPath).
    private static bool SameOrMoved(string stored, string wanted)
    {
        if (stored == wanted) return true;
        string rooted = DatasetSpec.WithFullPath(stored);
        return rooted == DatasetSpec.WithFullPath(wanted)
            || (InputLocations.IsLocation(rooted, out var storedKind, out _) && InputLocations.IsLocation(wanted, out var wantedKind, out _) && storedKind == wantedKind);
    }

    // Every location string under node, with its dotted place ("attack.trigger_image", "attack.references.0").
    private static IEnumerable<(string At, string Path)> Locations(JsonNode? node, string at) => node switch
    {
        JsonObject o => o.SelectMany(kv => Locations(kv.Value, at.Length == 0 ? kv.Key : $"{at}.{kv.Key}")),
        JsonArray a => a.SelectMany((item, i) => Locations(item, $"{at}.{i}")),
        JsonValue v when v.TryGetValue<string>(out var text) && InputLocations.IsLocation(text, out _, out var path) => [(at, path)],
        _ => [],
    };
}
