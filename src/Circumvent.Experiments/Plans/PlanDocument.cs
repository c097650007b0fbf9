using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Circumvent.Experiments.Plans;

/// <summary>Reads a plan file as a JSON object: .json as JSON, .yaml/.yml as YAML (mapped onto the same JSON tree).</summary>
public static class PlanDocument
{
    public static JsonObject Load(string path)
    {
        if (!File.Exists(path)) throw new PlanException(path, "file not found.");
        string text = File.ReadAllText(path);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        JsonNode? root = extension is ".yaml" or ".yml" ? ParseYaml(path, text) : ParseJson(path, text);
        return root as JsonObject ?? throw new PlanException(path, "expected an object at the top level (datasets, architectures, attacks, …).");
    }

    private static JsonNode? ParseJson(string path, string text)
    {
        try
        {
            return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new PlanException(path, $"not valid JSON (line {e.LineNumber + 1}): {e.Message.Split(". LineNumber")[0]}.");
        }
    }

    private static JsonNode? ParseYaml(string path, string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new PlanException(path, $"not valid YAML (line {e.Start.Line}): {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // NOTE: YamlDotNet's scanner throws this (not a YamlException) on some malformed input.
            throw new PlanException(path, $"not valid YAML ({e.Message}).");
        }
        return stream.Documents.Count == 0 ? null : ToJson(stream.Documents[0].RootNode);
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create((kv.Key as YamlScalarNode)?.Value ?? kv.Key.ToString(), ToJson(kv.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(ToJson)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => null,
    };

    /// <summary>Plain scalars become numbers, booleans or null when they read as such; quoted ones stay strings.</summary>
    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        string value = scalar.Value ?? "";
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted) return JsonValue.Create(value);
        if (value is "" or "~" or "null") return null;
        if (value is "true" or "false") return JsonValue.Create(value == "true");
        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long integer)) return JsonValue.Create(integer);
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double real)) return JsonValue.Create(real);
        return JsonValue.Create(value);
    }
}

/// <summary>A plan file problem: the message names the file and the field (e.g. "attacks[1].kind").</summary>
public sealed class PlanException(string path, string message) : ArgumentException($"plan '{path}': {message}")
{
    public static PlanException Field(string path, string field, string message) => new(path, $"{field}: {message}");
}
