using System.Globalization;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Works out which built-in architecture a plain state_dict (no Circumvent metadata) belongs to, from its
/// key names and tensor shapes: the network from its layer names (VGG depth from its convolution count),
/// input channels from the first layer, the width multiplier from the first layer's channels, the classes
/// from the output layer. The input height/width cannot be seen in most networks' weights, so the
/// caller gives them (the CLI takes them from the dataset). A name or width given by the user wins;
/// whatever is inferred is then checked tensor by tensor when the checkpoint is built.
/// </summary>
public static class ArchitectureInference
{
    /// <param name="name">The user's --arch, or null to infer it.</param>
    /// <param name="widthMultiplier">The user's --width, or null to infer it.</param>
    public static ArchitectureConfig Infer(string path, SafeTensorsContent content, string? name, double? widthMultiplier, int height, int width)
    {
        var tensors = content.Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        name ??= InferName(path, tensors);
        var (first, firstBase, output) = name switch
        {
            "mlp" => ("fc1.weight", 512, "fc3.weight"),
            "cnn-small" => ("conv1.weight", 32, "fc.weight"),
            "vgg11" or "vgg16" or "vgg19" => ("features.0.weight", 64, "classifier.weight"),
            "preact-resnet18" or "resnet18" => ("conv1.weight", 64, "linear.weight"),
            "airnet" => ("2.conv1.weight", 64, "7.weight"),
            _ => throw new CheckpointException(path, $"unknown architecture '{name}'; known: {string.Join(", ", Architectures.Names)}."),
        };
        var firstShape = Require(path, tensors, first, name, rank: name == "mlp" ? 2 : 4);
        var outputShape = Require(path, tensors, output, name, rank: 2);
        int inChannels = name switch
        {
            "mlp" => MlpChannels(path, firstShape[1], height, width),
            "airnet" => Require(path, tensors, "0.weight", name, rank: 4)[1], // the whitening conv, not scaled by the width
            _ => firstShape[1],
        };
        double multiplier = widthMultiplier ?? (double)firstShape[0] / firstBase;
        return new ArchitectureConfig(name, inChannels, height, width, outputShape[0], multiplier);
    }

    /// <summary>A description of what was inferred, for the user ("preact-resnet18, width 0.0625, 3 input channels, 10 classes").</summary>
    public static string Describe(ArchitectureConfig c) =>
        string.Create(CultureInfo.InvariantCulture, $"{c.Name}, width {c.WidthMultiplier:0.####}, {c.InChannels} input channels, {c.Classes} classes");

    private static string InferName(string path, Dictionary<string, int[]> tensors)
    {
        bool Has(string key) => tensors.ContainsKey(key);
        if (Has("features.0.weight") && Has("classifier.weight"))
        {
            int convs = tensors.Count(kv => kv.Key.StartsWith("features.", StringComparison.Ordinal) && kv.Key.EndsWith(".weight", StringComparison.Ordinal) && kv.Value.Length == 4);
            return convs switch
            {
                8 => "vgg11",
                13 => "vgg16",
                16 => "vgg19",
                _ => throw new CheckpointException(path, $"looks like a VGG but has {convs} convolutions (vgg11 has 8, vgg16 13, vgg19 16); pass --arch."),
            };
        }
        if (Has("conv1.weight") && Has("layer1.0.conv1.weight") && Has("linear.weight"))
            return Has("bn1.weight") ? "resnet18" : "preact-resnet18";
        if (Has("conv5.weight") && Has("fc.weight")) return "cnn-small";
        if (Has("fc1.weight") && Has("fc3.weight")) return "mlp";
        if (Has("0.weight") && Has("2.conv1.weight") && Has("7.weight")) return "airnet";
        var sample = string.Join(", ", tensors.Keys.Take(4));
        throw new CheckpointException(path,
            $"cannot tell which architecture its tensors ({sample}, …) belong to; pass --arch (one of {string.Join(", ", Architectures.Names)}).");
    }

    private static int[] Require(string path, Dictionary<string, int[]> tensors, string key, string name, int rank)
    {
        if (!tensors.TryGetValue(key, out var shape))
            throw new CheckpointException(path, $"a {name} checkpoint needs this tensor, the file has none by that name.", key);
        if (shape.Length != rank || shape.Any(d => d < 1))
            throw new CheckpointException(path, $"expected a {rank}-dimensional non-empty tensor for {name}, file has {Engine.Shape.Format(shape)}.", key);
        return shape;
    }

    private static int MlpChannels(string path, int inFeatures, int height, int width)
    {
        if (inFeatures % (height * width) != 0)
            throw new CheckpointException(path, $"fc1 takes {inFeatures} features, which is not channels × {height} × {width} for the {height}×{width} input.", "fc1.weight");
        return inFeatures / (height * width);
    }
}
