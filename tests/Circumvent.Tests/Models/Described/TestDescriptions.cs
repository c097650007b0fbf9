using Circumvent.Models;
using Circumvent.Models.Described;

namespace Circumvent.Tests.Models.Described;

/// <summary>Small descriptions covering every layer type, all on 3×8×8 (or 3×16×16) inputs with 5 classes.</summary>
internal static class TestDescriptions
{
    /// <summary>Biased convs + BN + max pool, flatten of a 4×4 map into a linear layer, dropout.</summary>
    public const string PlainCnn = """
        { "name": "plain-cnn", "input": [3, 8, 8], "classes": 5,
          "layers": [
            { "type": "conv2d", "name": "features.0", "in_channels": 3, "out_channels": 6, "kernel_size": 3, "padding": 1 },
            { "type": "batchnorm2d", "name": "features.1", "num_features": 6 },
            { "type": "relu" },
            { "type": "maxpool2d", "kernel_size": 2 },
            { "type": "conv2d", "name": "features.4", "in_channels": 6, "out_channels": 7, "kernel_size": 3, "padding": 1 },
            { "type": "batchnorm2d", "name": "features.5", "num_features": 7 },
            { "type": "sigmoid" },
            { "type": "avgpool2d", "kernel_size": 3, "stride": 1, "padding": 1 },
            { "type": "flatten" },
            { "type": "linear", "name": "classifier.0", "in_features": 112, "out_features": 12 },
            { "type": "relu" },
            { "type": "dropout", "p": 0.25 },
            { "type": "linear", "name": "classifier.3", "in_features": 12, "out_features": 5 }
          ] }
        """;

    /// <summary>Flatten → linear stack with tanh, batchnorm1d, leaky ReLU, a bias-free layer and a final softmax.</summary>
    public const string Mlp = """
        { "name": "mlp", "input": [3, 8, 8], "classes": 5,
          "layers": [
            { "type": "flatten" },
            { "type": "linear", "name": "fc1", "in_features": 192, "out_features": 16 },
            { "type": "tanh" },
            { "type": "linear", "name": "fc2", "in_features": 16, "out_features": 12, "bias": false },
            { "type": "batchnorm1d", "name": "bn2", "num_features": 12 },
            { "type": "leaky_relu", "negative_slope": 0.2 },
            { "type": "linear", "name": "fc3", "in_features": 12, "out_features": 5 },
            { "type": "softmax" }
          ] }
        """;

    /// <summary>
    /// A stem, a post-activation block with an identity shortcut, a pre-activation block (its first BN
    /// normalises the incoming stream) and a strided block with a projection shortcut (conv + BN), then global pooling.
    /// </summary>
    public const string ResidualNet = """
        { "name": "tiny-resnet", "input": [3, 8, 8], "classes": 5,
          "layers": [
            { "type": "conv2d", "name": "stem", "in_channels": 3, "out_channels": 6, "kernel_size": 3, "padding": 1, "bias": false },
            { "type": "batchnorm2d", "name": "stem_bn", "num_features": 6 },
            { "type": "relu" },
            { "type": "residual", "activation": "relu", "body": [
                { "type": "conv2d", "name": "b1.conv1", "in_channels": 6, "out_channels": 5, "kernel_size": 3, "padding": 1, "bias": false },
                { "type": "batchnorm2d", "name": "b1.bn1", "num_features": 5 },
                { "type": "relu" },
                { "type": "conv2d", "name": "b1.conv2", "in_channels": 5, "out_channels": 6, "kernel_size": 3, "padding": 1, "bias": false },
                { "type": "batchnorm2d", "name": "b1.bn2", "num_features": 6 } ] },
            { "type": "residual", "body": [
                { "type": "batchnorm2d", "name": "b2.bn1", "num_features": 6 },
                { "type": "relu" },
                { "type": "conv2d", "name": "b2.conv1", "in_channels": 6, "out_channels": 6, "kernel_size": 3, "padding": 1 } ] },
            { "type": "residual", "activation": "relu",
              "body": [
                { "type": "conv2d", "name": "b3.conv1", "in_channels": 6, "out_channels": 9, "kernel_size": 3, "stride": 2, "padding": 1, "bias": false },
                { "type": "batchnorm2d", "name": "b3.bn1", "num_features": 9 },
                { "type": "relu" },
                { "type": "conv2d", "name": "b3.conv2", "in_channels": 9, "out_channels": 9, "kernel_size": 3, "padding": 1, "bias": false },
                { "type": "batchnorm2d", "name": "b3.bn2", "num_features": 9 } ],
              "shortcut": [
                { "type": "conv2d", "name": "b3.shortcut.0", "in_channels": 6, "out_channels": 9, "kernel_size": 1, "stride": 2, "bias": false },
                { "type": "batchnorm2d", "name": "b3.shortcut.1", "num_features": 9 } ] },
            { "type": "global_avgpool" },
            { "type": "linear", "name": "linear", "in_features": 9, "out_features": 5 }
          ] }
        """;

    /// <summary>The built-in cnn-small at width 0.125 on 3×16×16 (channels 4, 4, 8, 8, 16), layer for layer.</summary>
    public static string CnnSmall()
    {
        int[] channels = [4, 4, 8, 8, 16];
        var layers = new List<string>();
        int inC = 3;
        for (int i = 0; i < 5; i++)
        {
            layers.Add($$"""{ "type": "conv2d", "name": "conv{{i + 1}}", "in_channels": {{inC}}, "out_channels": {{channels[i]}}, "kernel_size": 3, "padding": 1, "bias": false }""");
            layers.Add($$"""{ "type": "batchnorm2d", "name": "bn{{i + 1}}", "num_features": {{channels[i]}} }""");
            layers.Add("""{ "type": "relu" }""");
            if (i is 1 or 3 or 4) layers.Add("""{ "type": "maxpool2d", "kernel_size": 2, "stride": 2 }""");
            inC = channels[i];
        }
        layers.Add("""{ "type": "flatten" }""");
        layers.Add("""{ "type": "linear", "name": "fc", "in_features": 64, "out_features": 5 }""");
        return $$"""{ "name": "cnn-small-described", "input": [3, 16, 16], "classes": 5, "layers": [ {{string.Join(", ", layers)}} ] }""";
    }

    public static TheoryData<string> Names() => ["plain-cnn", "mlp", "tiny-resnet", "cnn-small"];

    public static string Json(string name) => name switch
    {
        "plain-cnn" => PlainCnn,
        "mlp" => Mlp,
        "tiny-resnet" => ResidualNet,
        "cnn-small" => CnnSmall(),
        _ => throw new ArgumentException(name),
    };

    public static IArchitecture Architecture(string name) =>
        Architectures.Create(DescriptionParser.ParseJson(Json(name), name + ".json").ToConfig());
}
