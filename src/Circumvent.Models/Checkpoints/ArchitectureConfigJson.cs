using System.Text.Json;
using Circumvent.Models.Described;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// The JSON form of an <see cref="ArchitectureConfig"/> stored under "circumvent.architecture"; a described
/// network also carries its whole description under "description", so it reloads without the file.
/// </summary>
public static class ArchitectureConfigJson
{
    public static string Serialize(ArchitectureConfig c)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("name", c.Name);
            json.WriteNumber("in_channels", c.InChannels);
            json.WriteNumber("height", c.Height);
            json.WriteNumber("width", c.Width);
            json.WriteNumber("classes", c.Classes);
            json.WriteNumber("width_multiplier", c.WidthMultiplier);
            if (c.Description is { } description)
            {
                json.WritePropertyName("description");
                json.WriteRawValue(description.Json);
            }
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <exception cref="FormatException">The text is not a complete architecture object.</exception>
    public static ArchitectureConfig Parse(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException($"expected a JSON object, found {root.ValueKind}.");
            // A described network is rebuilt from its description alone; the other fields repeat its sizes.
            if (root.TryGetProperty("description", out var description))
                return DescriptionParser.ParseJson(description.GetRawText(), "checkpoint metadata").ToConfig();
            return new ArchitectureConfig(
                Require(root, "name").GetString() ?? throw new FormatException("'name' must be a string."),
                Require(root, "in_channels").GetInt32(),
                Require(root, "height").GetInt32(),
                Require(root, "width").GetInt32(),
                Require(root, "classes").GetInt32(),
                root.TryGetProperty("width_multiplier", out var w) ? w.GetDouble() : 1.0);
        }
        catch (DescriptionException e)
        {
            throw new FormatException(e.Message, e);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new FormatException(e.Message, e);
        }
    }

    private static JsonElement Require(JsonElement root, string key) =>
        root.TryGetProperty(key, out var v) ? v : throw new FormatException($"missing '{key}'.");
}
