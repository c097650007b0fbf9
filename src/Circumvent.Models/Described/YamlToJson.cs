using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Circumvent.Models.Described;

/// <summary>
/// Turns a YAML description into the equivalent JSON text, so one parser (and one set of error
/// messages) serves both. Plain scalars become numbers, booleans or null when they read as such
/// (YAML 1.2 core schema: true/false, null/~, integers, decimals); quoted scalars stay strings.
/// </summary>
internal static class YamlToJson
{
    public static string Convert(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new DescriptionException(source, $"line {e.Start.Line}, column {e.Start.Column}", $"not valid YAML ({e.Message.TrimEnd('.')}).", e);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // NOTE: YamlDotNet's scanner throws these (without a position) on some malformed inputs, e.g. an unclosed flow sequence.
            throw new DescriptionException(source, "", $"not valid YAML ({e.Message.TrimEnd('.')}).", e);
        }
        if (stream.Documents.Count != 1)
            throw new DescriptionException(source, "", $"expected one YAML document, found {stream.Documents.Count}.");
        return ToNode(stream.Documents[0].RootNode, source)?.ToJsonString() ?? "null";
    }

    private static JsonNode? ToNode(YamlNode node, string source)
    {
        switch (node)
        {
            case YamlMappingNode map:
            {
                var obj = new JsonObject();
                foreach (var (key, value) in map.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                        throw new DescriptionException(source, Where(key), "mapping keys must be plain names.");
                    if (obj.ContainsKey(name))
                        throw new DescriptionException(source, Where(key), $"key '{name}' appears twice.");
                    obj[name] = ToNode(value, source);
                }
                return obj;
            }
            case YamlSequenceNode sequence:
                return new JsonArray([.. sequence.Children.Select(child => ToNode(child, source))]);
            case YamlScalarNode scalar:
                return Scalar(scalar);
            default:
                throw new DescriptionException(source, Where(node), "aliases and other YAML node kinds are not supported.");
        }
    }

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        string value = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any)) return JsonValue.Create(value);
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL": return null;
            case "true" or "True" or "TRUE": return JsonValue.Create(true);
            case "false" or "False" or "FALSE": return JsonValue.Create(false);
        }
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long integer)) return JsonValue.Create(integer);
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && double.IsFinite(number))
            return JsonValue.Create(number);
        return JsonValue.Create(value);
    }

    private static string Where(YamlNode node) => $"line {node.Start.Line}, column {node.Start.Column}";
}
