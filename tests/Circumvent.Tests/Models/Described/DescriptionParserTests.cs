using Circumvent.Models.Described;

namespace Circumvent.Tests.Models.Described;

public class DescriptionParserTests
{
    private static DescriptionException Fails(string json) =>
        Assert.Throws<DescriptionException>(() => DescriptionParser.ParseJson(json, "bad.json"));

    /// <summary>A valid one-conv network with one layer replaced by <paramref name="layer"/>.</summary>
    private static string With(string layer) => $$"""
        { "input": [1, 4, 4], "classes": 3, "layers": [
          {{layer}},
          { "type": "global_avgpool" },
          { "type": "linear", "name": "fc", "in_features": 2, "out_features": 3 } ] }
        """;

    private const string Conv = """{ "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1 }""";

    [Fact]
    public void ValidDescriptionParsesWithPyTorchDefaults()
    {
        var d = DescriptionParser.ParseJson(With(Conv), "ok.json");
        Assert.Equal(("described", 1, 4, 4, 3), (d.Name, d.InChannels, d.Height, d.Width, d.Classes));
        var conv = Assert.IsType<Conv2dLayer>(d.Layers[0]);
        Assert.Equal((1, 1, true), (conv.Stride, conv.Padding, conv.Bias));
        Assert.Equal("$.layers[0]", conv.Path);
        Assert.Equal(["c.weight", "c.bias", "fc.weight", "fc.bias"], new DescribedArchitecture(d).Tensors.Select(t => t.Name));
    }

    [Fact]
    public void CommentsAndTrailingCommasAreAcceptedAndDroppedFromTheStoredCopy()
    {
        // Found by fuzzing: the stored compact copy was re-read without these options and threw a raw JsonException.
        var d = DescriptionParser.ParseJson(With(Conv).Replace("\"classes\": 3,", "\"classes\": 3, // ten would not fit\n").Replace("} ] }", "}, ], }"), "lenient.json");
        Assert.Equal(3, d.Layers.Count);
        Assert.DoesNotContain("//", d.Json);
        Assert.Equal(d.Layers, DescriptionParser.ParseJson(d.Json, "stored").Layers);
    }

    [Theory]
    [InlineData("""{ "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 2000000000 }""", "side of")]
    [InlineData("""{ "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 65536, "kernel_size": 3, "padding": 30000 }""", "values per sample")]
    [InlineData("""{ "type": "conv2d", "name": "c", "in_channels": 65536, "out_channels": 65536, "kernel_size": 1 }""", "weight of 4,294,967,296 values")]
    public void AbsurdSizesAreDescriptionErrorsNotOverflows(string layer, string expected)
    {
        // Found by fuzzing: a huge padding overflowed the flatten's size (OverflowException) or wrapped silently.
        var e = Fails(With(layer).Replace("\"input\": [1, 4, 4]", layer.Contains("65536, \"out") ? "\"input\": [65536, 4, 4]" : "\"input\": [1, 4, 4]"));
        Assert.Equal("$.layers[0]", e.Location);
        Assert.Contains(expected, e.Problem);
    }

    [Fact]
    public void UnknownLayerTypeIsNamedWithItsPathAndTheKnownTypes()
    {
        var e = Fails(With("""{ "type": "conv3d", "name": "c" }"""));
        Assert.Equal("$.layers[0].type", e.Location);
        Assert.Contains("unknown layer type 'conv3d'", e.Message);
        Assert.Contains("conv2d, linear", e.Message);
        Assert.StartsWith("model description 'bad.json' at $.layers[0].type:", e.Message);
    }

    [Fact]
    public void MissingFieldIsNamed()
    {
        var e = Fails(With("""{ "type": "conv2d", "name": "c", "in_channels": 1, "kernel_size": 3 }"""));
        Assert.Equal("$.layers[0]", e.Location);
        Assert.Contains("missing required field 'out_channels'", e.Message);
        Assert.Contains("missing required field 'classes'", Fails("""{ "input": [1, 4, 4], "layers": [] }""").Message);
    }

    [Fact]
    public void ChannelMismatchBetweenLayersIsReportedAtTheReceivingLayer()
    {
        var e = Fails(With("""{ "type": "conv2d", "name": "c", "in_channels": 3, "out_channels": 2, "kernel_size": 3 }"""));
        Assert.Equal("$.layers[0]", e.Location);
        Assert.Contains("conv2d 'c' expects 3 input channels but receives (N, 1, 4, 4)", e.Message);
    }

    [Fact]
    public void LinearAfterAMapWithoutFlattenAndWrongFeatureCountsAreReported()
    {
        var noFlatten = Fails("""
            { "input": [1, 4, 4], "classes": 3, "layers": [ { "type": "linear", "name": "fc", "in_features": 16, "out_features": 3 } ] }
            """);
        Assert.Contains("needs (N, features) input but receives (N, 1, 4, 4); put a flatten", noFlatten.Message);
        var wrongWidth = Fails("""
            { "input": [1, 4, 4], "classes": 3, "layers": [ { "type": "flatten" }, { "type": "linear", "name": "fc", "in_features": 15, "out_features": 3 } ] }
            """);
        Assert.Equal("$.layers[1]", wrongWidth.Location);
        Assert.Contains("expects 15 input features but receives (N, 16)", wrongWidth.Message);
    }

    [Fact]
    public void NetworkMustEndInOneLogitPerClass()
    {
        var e = Fails("""
            { "input": [1, 4, 4], "classes": 3, "layers": [ { "type": "flatten" }, { "type": "linear", "name": "fc", "in_features": 16, "out_features": 4 } ] }
            """);
        Assert.Contains("ends with shape (N, 4) but must give (N, 3) logits", e.Message);
    }

    [Fact]
    public void ResidualBranchesMustMatch()
    {
        var e = Fails(With("""
            { "type": "residual", "body": [ { "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1 } ] }
            """));
        Assert.Equal("$.layers[0]", e.Location);
        Assert.Contains("body gives (N, 2, 4, 4) but the identity shortcut gives (N, 1, 4, 4)", e.Message);
    }

    [Fact]
    public void NestedErrorsCarryTheirFullPath()
    {
        var e = Fails(With("""
            { "type": "residual", "body": [ { "type": "relu" } ],
              "shortcut": [ { "type": "maxpool2d", "kernel_size": 2, "padding": 2 } ] }
            """));
        Assert.Equal("$.layers[0].shortcut[0].padding", e.Location);
    }

    [Theory]
    [InlineData("""{ "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": "3" }""", "$.layers[0].kernel_size", "expected an integer ≥ 1, found \"3\"")]
    [InlineData("""{ "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1, "kernal": 3 }""", "$.layers[0].kernal", "unknown field 'kernal'")]
    [InlineData("""{ "type": "conv2d", "name": "", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1 }""", "$.layers[0].name", "expected a non-empty string")]
    [InlineData("""{ "type": "dropout", "p": 1.5 }""", "$.layers[0].p", "expected a number in [0, 1)")]
    [InlineData("""{ "type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 2, "kernel_size": 7 }""", "$.layers[0]", "kernel 7 does not fit a 4-pixel side")]
    [InlineData("""{ "type": "batchnorm2d", "name": "b", "num_features": 1, "eps": 0.001 }""", "$.layers[0].eps", "only PyTorch's default eps")]
    [InlineData("\"relu\"", "$.layers[0]", "expected an object, found \"relu\"")]
    public void BadFieldsAreNamed(string layer, string location, string problem)
    {
        var e = Fails(With(layer));
        Assert.Equal(location, e.Location);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void DuplicateLayerNamesAreRefused()
    {
        var e = Fails("""
            { "input": [2], "classes": 2, "layers": [
              { "type": "linear", "name": "fc", "in_features": 2, "out_features": 2 },
              { "type": "linear", "name": "fc", "in_features": 2, "out_features": 2 } ] }
            """);
        Assert.Contains("expected [channels, height, width]", e.Message);
        var dup = Fails("""
            { "input": [2, 1, 1], "classes": 2, "layers": [ { "type": "flatten" },
              { "type": "linear", "name": "fc", "in_features": 2, "out_features": 2 },
              { "type": "linear", "name": "fc", "in_features": 2, "out_features": 2 } ] }
            """);
        Assert.Equal("$.layers[2]", dup.Location);
        Assert.Contains("name 'fc' is used by an earlier layer", dup.Message);
    }

    [Fact]
    public void SyntaxErrorsGiveLineAndColumn()
    {
        var e = Fails("{\n  \"input\": [1, 4, 4],\n  \"classes\": 3\n  \"layers\": []\n}");
        Assert.Equal("line 4, column 3", e.Location);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void YamlDescribesTheSameNetwork()
    {
        const string yaml = """
            name: yaml-net
            input: [1, 4, 4]
            classes: 3
            layers:
              - {type: conv2d, name: c, in_channels: 1, out_channels: 2, kernel_size: 3, padding: 1, bias: false}
              - type: leaky_relu
                negative_slope: 0.5
              - type: global_avgpool
              - {type: linear, name: "fc", in_features: 2, out_features: 3}
            """;
        var d = DescriptionParser.ParseYaml(yaml, "net.yaml");
        Assert.Equal("yaml-net", d.Name);
        Assert.False(Assert.IsType<Conv2dLayer>(d.Layers[0]).Bias);
        Assert.Equal(0.5f, Assert.IsType<ActivationLayer>(d.Layers[1]).NegativeSlope);
        // The stored JSON parses back to the same layers.
        Assert.Equal(d.Layers, DescriptionParser.ParseJson(d.Json, "stored").Layers);

        var e = Assert.Throws<DescriptionException>(() => DescriptionParser.ParseYaml("input: [1, 4\nclasses: 3", "broken.yaml"));
        Assert.StartsWith("model description 'broken.yaml'", e.Message);
        Assert.Contains("not valid YAML", e.Message);
        Assert.StartsWith("line 2,", Assert.Throws<DescriptionException>(() => DescriptionParser.ParseYaml("input: [1]\n - x: 1", "b.yaml")).Location);
        var typed = Assert.Throws<DescriptionException>(() => DescriptionParser.ParseYaml(yaml.Replace("kernel_size: 3", "kernel_size: three"), "t.yaml"));
        Assert.Equal("$.layers[0].kernel_size", typed.Location);
    }

    [Fact]
    public void MissingFileIsADescriptionError()
    {
        var e = Assert.Throws<DescriptionException>(() => DescriptionParser.ParseFile("/nonexistent/net.json"));
        Assert.Contains("/nonexistent/net.json", e.Message);
    }
}
