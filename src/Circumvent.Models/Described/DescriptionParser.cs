using System.Text.Json;
using System.Text.Json.Nodes;

namespace Circumvent.Models.Described;

/// <summary>
/// Reads model descriptions (JSON, or YAML with the same structure) into a checked
/// <see cref="ModelDescription"/>: every field has the expected type, unknown keys and layer types are
/// refused, and the layers' sizes are checked against each other (<see cref="DescriptionShapes"/>).
/// Field names follow PyTorch's constructor arguments:
/// <code>
/// { "name": "my-cnn", "input": [3, 32, 32], "classes": 10,
///   "layers": [ { "type": "conv2d", "name": "features.0", "in_channels": 3, "out_channels": 16, "kernel_size": 3, "padding": 1 },
///               { "type": "batchnorm2d", "name": "features.1", "num_features": 16 }, { "type": "relu" },
///               { "type": "maxpool2d", "kernel_size": 2 }, { "type": "flatten" },
///               { "type": "linear", "name": "classifier", "in_features": 4096, "out_features": 10 } ] }
/// </code>
/// </summary>
public static class DescriptionParser
{
    /// <summary>Layer types a description may use.</summary>
    public static readonly string[] LayerTypes =
    [
        "conv2d", "linear", "batchnorm2d", "batchnorm1d", "relu", "sigmoid", "tanh", "leaky_relu", "maxpool2d", "avgpool2d",
        "adaptive_avgpool2d", "global_avgpool", "flatten", "dropout", "softmax", "residual",
    ];

    /// <summary>Comments and trailing commas are allowed; the compact copy of the raw text is re-read with the same options.</summary>
    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Reads a .json, .yaml or .yml file (by extension; anything else is tried as JSON).</summary>
    /// <exception cref="DescriptionException">Unreadable file, syntax error or invalid description.</exception>
    public static ModelDescription ParseFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DescriptionException(path, "", $"cannot read the file: {e.Message}", e);
        }
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        return extension is ".yaml" or ".yml" ? ParseYaml(text, path) : ParseJson(text, path);
    }

    /// <param name="source">Names the text in errors (a file path, or the metadata key it was stored under).</param>
    public static ModelDescription ParseJson(string text, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, Lenient);
        }
        catch (JsonException e)
        {
            // JsonException positions are 0-based.
            string where = e.LineNumber is long line ? $"line {line + 1}, column {(e.BytePositionInLine ?? 0) + 1}" : "";
            throw new DescriptionException(source, where, $"not valid JSON ({FirstSentence(e.Message)}).", e);
        }
        using (document) return Parse(document.RootElement, source);
    }

    /// <summary>YAML with the same keys as the JSON form; converted to JSON first (see <see cref="YamlToJson"/>).</summary>
    public static ModelDescription ParseYaml(string text, string source) => ParseJson(YamlToJson.Convert(text, source), source);

    private static ModelDescription Parse(JsonElement root, string source)
    {
        var fields = new JsonFields(source, root, "$");
        string name = fields.OptionalString("name") ?? "described";
        var input = fields.Required("input");
        if (input.ValueKind != JsonValueKind.Array || input.GetArrayLength() != 3)
            throw fields.Error(fields.PathOf("input"), $"expected [channels, height, width], found {JsonFields.Describe(input)}.");
        var dims = input.EnumerateArray().Select((d, i) => fields.AsInt($"$.input[{i}]", d, 1)).ToArray();
        int classes = fields.Int("classes", 1);
        var layers = ParseLayers(source, fields.Required("layers"), fields.PathOf("layers"), allowEmpty: false);
        string? normalize = fields.OptionalString("normalize");
        fields.RejectUnknown("the description");

        var compact = JsonNode.Parse(root.GetRawText(), documentOptions: Lenient)!.ToJsonString();
        var description = new ModelDescription(name, dims[0], dims[1], dims[2], classes, layers, compact, normalize);
        DescriptionShapes.Check(description, source);
        return description;
    }

    private static List<LayerDescription> ParseLayers(string source, JsonElement array, string path, bool allowEmpty)
    {
        if (array.ValueKind != JsonValueKind.Array)
            throw new DescriptionException(source, path, $"expected an array of layers, found {JsonFields.Describe(array)}.");
        if (!allowEmpty && array.GetArrayLength() == 0)
            throw new DescriptionException(source, path, "expected at least one layer.");
        return [.. array.EnumerateArray().Select((element, i) => Layer(source, element, $"{path}[{i}]"))];
    }

    private static LayerDescription Layer(string source, JsonElement element, string path)
    {
        var f = new JsonFields(source, element, path);
        string type = f.String("type");
        LayerDescription layer = type switch
        {
            "conv2d" => new Conv2dLayer(path, f.String("name"), f.Int("in_channels", 1), f.Int("out_channels", 1), f.Int("kernel_size", 1),
                f.Int("stride", 1, 1), f.Int("padding", 0, 0), f.Bool("bias", true)),
            "linear" => new LinearLayer(path, f.String("name"), f.Int("in_features", 1), f.Int("out_features", 1), f.Bool("bias", true)),
            "batchnorm2d" or "batchnorm1d" => BatchNorm(f, path, type),
            "relu" or "sigmoid" or "tanh" or "leaky_relu" => Activation(f, path, type),
            "maxpool2d" or "avgpool2d" => Pool(f, path, type == "maxpool2d"),
            "adaptive_avgpool2d" => AdaptivePool(f, path),
            "global_avgpool" => new GlobalAvgPoolLayer(path),
            "flatten" => new FlattenLayer(path),
            "dropout" => new DropoutLayer(path, f.Float("p", 0.5f, 0f, 1f)),
            "softmax" => Softmax(f, path),
            "residual" => Residual(source, f, path),
            _ => throw f.Error(f.PathOf("type"), $"unknown layer type '{type}'; expected one of: {string.Join(", ", LayerTypes)}."),
        };
        if (layer is not (Conv2dLayer or LinearLayer or BatchNormLayer)) f.OptionalString("name"); // a label only
        f.RejectUnknown($"a {type} layer");
        return layer;
    }

    private static BatchNormLayer BatchNorm(JsonFields f, string path, string type)
    {
        var layer = new BatchNormLayer(path, f.String("name"), f.Int("num_features", 1), type == "batchnorm2d");
        // Circumvent's BN uses PyTorch's defaults; say so rather than silently computing something else.
        if (f.Optional("eps") is { } eps && (eps.ValueKind != JsonValueKind.Number || eps.GetDouble() != Layers.BatchNormEps))
            throw f.Error(f.PathOf("eps"), $"only PyTorch's default eps {Layers.BatchNormEps:g} is supported, found {JsonFields.Describe(eps)}.");
        if (f.Optional("affine") is { ValueKind: not JsonValueKind.True } affine)
            throw f.Error(f.PathOf("affine"), $"only affine batch norm (γ and β present) is supported, found {JsonFields.Describe(affine)}.");
        return layer;
    }

    private static ActivationLayer Activation(JsonFields f, string path, string type) => type switch
    {
        "relu" => new ActivationLayer(path, ActivationKind.Relu),
        "sigmoid" => new ActivationLayer(path, ActivationKind.Sigmoid),
        "tanh" => new ActivationLayer(path, ActivationKind.Tanh),
        _ => new ActivationLayer(path, ActivationKind.LeakyRelu, f.Float("negative_slope", 0.01f, 0f, 1f)),
    };

    private static PoolLayer Pool(JsonFields f, string path, bool max)
    {
        int kernel = f.Int("kernel_size", 1);
        int stride = f.Int("stride", 1, kernel);
        int padding = f.Int("padding", 0, 0);
        if (padding > kernel / 2)
            throw f.Error(f.PathOf("padding"), $"padding must be at most half the kernel size ({kernel / 2}), found {padding}.");
        return new PoolLayer(path, max, kernel, stride, padding);
    }

    private static AdaptiveAvgPoolLayer AdaptivePool(JsonFields f, string path)
    {
        var size = f.Required("output_size");
        if (size.ValueKind == JsonValueKind.Number) return new AdaptiveAvgPoolLayer(path, f.AsInt(f.PathOf("output_size"), size, 1), f.AsInt(f.PathOf("output_size"), size, 1));
        if (size.ValueKind != JsonValueKind.Array || size.GetArrayLength() != 2)
            throw f.Error(f.PathOf("output_size"), $"expected an integer or [height, width], found {JsonFields.Describe(size)}.");
        return new AdaptiveAvgPoolLayer(path, f.AsInt(f.PathOf("output_size") + "[0]", size[0], 1), f.AsInt(f.PathOf("output_size") + "[1]", size[1], 1));
    }

    private static SoftmaxLayer Softmax(JsonFields f, string path)
    {
        if (f.Optional("dim") is { } dim && !(dim.ValueKind == JsonValueKind.Number && dim.TryGetInt32(out int d) && d == 1))
            throw f.Error(f.PathOf("dim"), $"softmax is supported over the channel/feature axis only (dim 1), found {JsonFields.Describe(dim)}.");
        return new SoftmaxLayer(path);
    }

    private static ResidualLayer Residual(string source, JsonFields f, string path)
    {
        var body = ParseLayers(source, f.Required("body"), f.PathOf("body"), allowEmpty: false);
        var shortcut = f.Optional("shortcut") is { } s ? ParseLayers(source, s, f.PathOf("shortcut"), allowEmpty: true) : null;
        ActivationLayer? activation = null;
        if (f.OptionalString("activation") is { } kind)
        {
            if (kind is not ("relu" or "sigmoid" or "tanh" or "leaky_relu"))
                throw f.Error(f.PathOf("activation"), $"expected relu, sigmoid, tanh or leaky_relu, found '{kind}'.");
            activation = Activation(f, f.PathOf("activation"), kind);
        }
        return new ResidualLayer(path, body, shortcut is { Count: > 0 } ? shortcut : null, activation);
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd('.', ' ');
    }
}
