using System.Text.Json;

namespace Circumvent.Models.Checkpoints;

/// <summary>The JSON form of an <see cref="ArchitectureConfig"/> stored under "circumvent.architecture".</summary>
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
            return new ArchitectureConfig(
                Require(root, "name").GetString() ?? throw new FormatException("'name' must be a string."),
                Require(root, "in_channels").GetInt32(),
                Require(root, "height").GetInt32(),
                Require(root, "width").GetInt32(),
                Require(root, "classes").GetInt32(),
                root.TryGetProperty("width_multiplier", out var w) ? w.GetDouble() : 1.0);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new FormatException(e.Message, e);
        }
    }

    private static JsonElement Require(JsonElement root, string key) =>
        root.TryGetProperty(key, out var v) ? v : throw new FormatException($"missing '{key}'.");
}
