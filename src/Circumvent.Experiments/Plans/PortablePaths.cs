using System.Text.Json.Nodes;

namespace Circumvent.Experiments.Plans;

/// <summary>
/// A cell's config with its file and data paths written relative to the plan's folder. Cell keys hash this form, so a
/// key names what a cell computes and not where the checkout happens to be: a plan moved with its data, or run on a
/// cluster node that mounts the data elsewhere (same layout relative to the plan), finds its finished cells and cached
/// models. Relative paths in a plan are resolved against its folder (<see cref="PlanReader"/>), so this undoes exactly that.
/// </summary>
public static class PortablePaths
{
    /// <summary>A copy of <paramref name="node"/> in which every rooted path (or KIND:rooted path) is relative to <paramref name="folder"/>.</summary>
    public static JsonNode? Of(JsonNode? node, string folder) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, Of(kv.Value, folder)))),
        JsonArray a => new JsonArray([.. a.Select(item => Of(item, folder))]),
        JsonValue v when v.TryGetValue<string>(out var text) => JsonValue.Create(Relative(text, folder)),
        _ => node?.DeepClone(),
    };

    /// <summary>"/a/data/cifar10" or "cifar10:/a/data/cifar10" from folder "/a/plans" → "../data/cifar10" (with the "cifar10:" kept); any other text unchanged.</summary>
    public static string Relative(string text, string folder) =>
        Circumvent.Data.InputLocations.IsLocation(text, out var kind, out var path)
            ? (kind.Length == 0 ? "" : kind + ":") + Path.GetRelativePath(folder, path).Replace('\\', '/')
            : text;
}
