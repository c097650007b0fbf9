using System.Text.Json;

namespace Circumvent.Models.Described;

/// <summary>
/// Reads the fields of one JSON object of a description, remembering which were read so that
/// <see cref="RejectUnknown"/> can name a misspelt key instead of silently ignoring it.
/// </summary>
internal sealed class JsonFields
{
    private readonly string _source;
    private readonly JsonElement _object;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public JsonFields(string source, JsonElement element, string path)
    {
        _source = source;
        Path = path;
        if (element.ValueKind != JsonValueKind.Object)
            throw Error(path, $"expected an object, found {Describe(element)}.");
        _object = element;
    }

    /// <summary>JSON path of this object, e.g. "$.layers[2]".</summary>
    public string Path { get; }

    public string PathOf(string key) => $"{Path}.{key}";

    public DescriptionException Error(string location, string problem) => new(_source, location, problem);

    public bool Has(string key) => _object.TryGetProperty(key, out _);

    /// <summary>The raw element of a required key.</summary>
    public JsonElement Required(string key)
    {
        _read.Add(key);
        return _object.TryGetProperty(key, out var value) ? value : throw Error(Path, $"missing required field '{key}'.");
    }

    public JsonElement? Optional(string key)
    {
        _read.Add(key);
        return _object.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
    }

    public string String(string key) => AsString(key, Required(key));

    public string? OptionalString(string key) => Optional(key) is { } v ? AsString(key, v) : null;

    /// <summary>An integer ≥ <paramref name="min"/>; required unless <paramref name="fallback"/> is given.</summary>
    public int Int(string key, int min, int? fallback = null)
    {
        var element = fallback is null ? Required(key) : Optional(key);
        if (element is not { } v) return fallback!.Value;
        return AsInt(PathOf(key), v, min);
    }

    public int AsInt(string location, JsonElement v, int min)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int value) || value < min)
            throw Error(location, $"expected an integer ≥ {min}, found {Describe(v)}.");
        return value;
    }

    public bool Bool(string key, bool fallback)
    {
        if (Optional(key) is not { } v) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(PathOf(key), $"expected true or false, found {Describe(v)}."),
        };
    }

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public float Float(string key, float fallback, float min, float max)
    {
        if (Optional(key) is not { } v) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value) || value < min || value >= max)
            throw Error(PathOf(key), $"expected a number in [{min}, {max}), found {Describe(v)}.");
        return (float)value;
    }

    /// <summary>Throws naming the first key no reader asked for, listing the keys this object accepts.</summary>
    public void RejectUnknown(string what)
    {
        foreach (var property in _object.EnumerateObject())
            if (!_read.Contains(property.Name))
                throw Error(PathOf(property.Name),
                    $"unknown field '{property.Name}' for {what}; expected one of: {string.Join(", ", _read.Order(StringComparer.Ordinal))}.");
    }

    private string AsString(string key, JsonElement v) =>
        v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s
            : throw Error(PathOf(key), $"expected a non-empty string, found {Describe(v)}.");

    /// <summary>A short rendering of what was found: the value itself when it is small, else its kind.</summary>
    public static string Describe(JsonElement v)
    {
        var text = v.GetRawText();
        return v.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            _ when text.Length <= 40 => text,
            _ => v.ValueKind.ToString().ToLowerInvariant(),
        };
    }
}
