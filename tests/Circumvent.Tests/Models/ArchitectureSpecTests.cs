using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

public class ArchitectureSpecTests
{
    private static IArchitecture Create(string name, int channels = 3, int size = 32, int classes = 10, double width = 1.0) =>
        Architectures.Create(new ArchitectureConfig(name, channels, size, size, classes, width));

    private static long TrainableCount(IArchitecture a) =>
        a.Tensors.Where(t => t.Role == TensorRole.Parameter).Sum(t => (long)Shape.Size(t.Shape));

    private static int[] ShapeOf(IArchitecture a, string name) => a.Tensors.Single(t => t.Name == name).Shape;

    [Theory]
    [InlineData("preact-resnet18", 11_171_146)]
    [InlineData("resnet18", 11_173_962)]
    public void ResNetParameterCountsMatchPyTorch(string name, long expected) =>
        Assert.Equal(expected, TrainableCount(Create(name)));

    [Fact]
    public void PreActResNetKeysFollowBackdoorBench()
    {
        var a = Create("preact-resnet18");
        Assert.Equal("conv1.weight", a.Tensors[0].Name);
        Assert.Equal([128, 64, 1, 1], ShapeOf(a, "layer2.0.shortcut.0.weight"));
        Assert.Equal([64], ShapeOf(a, "layer1.0.bn1.running_mean"));
        Assert.Equal([128], ShapeOf(a, "layer3.0.bn1.weight")); // pre-activation BN sees the block input
        Assert.DoesNotContain(a.Tensors, t => t.Name.StartsWith("layer1.0.shortcut") || t.Name.StartsWith("bn1") || t.Name.EndsWith("num_batches_tracked"));
        Assert.Equal(["linear.weight", "linear.bias"], a.Tensors.TakeLast(2).Select(t => t.Name));
        Assert.Equal(TensorRole.Buffer, a.Tensors.Single(t => t.Name == "layer4.1.bn2.running_var").Role);
        // PreActBlock registration order: bn1, conv1, bn2, conv2, shortcut.
        var block = a.Tensors.Where(t => t.Name.StartsWith("layer2.0.")).Select(t => t.Name).ToList();
        Assert.Equal(["layer2.0.bn1.weight", "layer2.0.bn1.bias", "layer2.0.bn1.running_mean", "layer2.0.bn1.running_var",
            "layer2.0.conv1.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias", "layer2.0.bn2.running_mean", "layer2.0.bn2.running_var",
            "layer2.0.conv2.weight", "layer2.0.shortcut.0.weight"], block);
    }

    [Fact]
    public void ResNetKeysFollowKuangliu()
    {
        var a = Create("resnet18");
        Assert.Equal(["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"], a.Tensors.Take(5).Select(t => t.Name));
        Assert.Equal([256, 128, 1, 1], ShapeOf(a, "layer3.0.shortcut.0.weight"));
        Assert.Equal([256], ShapeOf(a, "layer3.0.shortcut.1.running_var"));
        Assert.DoesNotContain(a.Tensors, t => t.Name.StartsWith("layer1.0.shortcut"));
        Assert.Equal([10, 512], ShapeOf(a, "linear.weight"));
    }

    [Theory]
    [InlineData("vgg11", 8, 9_231_114)]
    [InlineData("vgg16", 13, 14_728_266)]
    [InlineData("vgg19", 16, 20_040_522)]
    public void VggKeysSitAtSequentialIndices(string name, int convs, long parameters)
    {
        var a = Create(name);
        Assert.Equal([64, 3, 3, 3], ShapeOf(a, "features.0.weight"));
        Assert.Equal([64], ShapeOf(a, "features.0.bias"));
        Assert.Equal([64], ShapeOf(a, "features.1.running_var"));
        Assert.Equal(convs, a.Tensors.Count(t => t.Name.EndsWith(".weight") && t.Shape.Length == 4));
        Assert.Equal([10, 512], ShapeOf(a, "classifier.weight"));
        Assert.Equal(parameters, TrainableCount(a));
    }

    [Fact]
    public void Vgg11IndicesSkipReluAndPool()
    {
        // cfg A: 64 M 128 M 256 256 M ... → convs at 0, 4, 8, 11, 15, 18, 22, 25.
        var convIndices = Create("vgg11").Tensors.Where(t => t.Shape.Length == 4)
            .Select(t => int.Parse(t.Name.Split('.')[1])).ToArray();
        Assert.Equal([0, 4, 8, 11, 15, 18, 22, 25], convIndices);
    }

    [Fact]
    public void CnnSmallShapes()
    {
        var a = Create("cnn-small");
        Assert.Equal([32, 3, 3, 3], ShapeOf(a, "conv1.weight"));
        Assert.Equal([128, 64, 3, 3], ShapeOf(a, "conv5.weight"));
        Assert.Equal([128], ShapeOf(a, "bn5.running_mean"));
        Assert.Equal([10, 2048], ShapeOf(a, "fc.weight"));
        Assert.DoesNotContain(a.Tensors, t => t.Name == "conv1.bias");
        var half = Create("cnn-small", channels: 1, size: 28, width: 0.5);
        Assert.Equal([16, 1, 3, 3], ShapeOf(half, "conv1.weight"));
        Assert.Equal([10, 64 * 3 * 3], ShapeOf(half, "fc.weight"));
    }

    [Fact]
    public void MlpShapes()
    {
        var a = Create("mlp", channels: 1, size: 28, width: 0.25);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"], a.Tensors.Select(t => t.Name));
        Assert.Equal([128, 784], ShapeOf(a, "fc1.weight"));
        Assert.Equal([10, 128], ShapeOf(a, "fc3.weight"));
    }

    [Fact]
    public void WidthMultiplierScalesResNetChannels()
    {
        var a = Create("preact-resnet18", width: 0.125);
        Assert.Equal([8, 3, 3, 3], ShapeOf(a, "conv1.weight"));
        Assert.Equal([64, 32, 1, 1], ShapeOf(a, "layer4.0.shortcut.0.weight"));
        Assert.Equal([10, 64], ShapeOf(a, "linear.weight"));
    }

    [Fact]
    public void UnknownNameListsKnownArchitectures()
    {
        var e = Assert.Throws<ArgumentException>(() => Create("resnet50"));
        Assert.Contains("resnet50", e.Message);
        foreach (var name in Architectures.Names) Assert.Contains(name, e.Message);
    }

    [Theory]
    [InlineData("vgg16", 28, "32×32")]
    [InlineData("cnn-small", 4, "8×8")]
    public void TooSmallInputIsRejectedWithTheMinimum(string name, int size, string minimum)
    {
        var e = Assert.Throws<ArgumentException>(() => Create(name, size: size));
        Assert.Contains(minimum, e.Message);
        Assert.Contains($"{size}×{size}", e.Message);
    }

    [Fact]
    public void InvalidConfigValuesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => Create("mlp", classes: 0));
        Assert.Throws<ArgumentException>(() => Create("mlp", channels: 0));
        Assert.Throws<ArgumentException>(() => Create("mlp", width: 0));
        Assert.Throws<ArgumentException>(() => Create("mlp", width: double.NaN));
    }

    [Fact]
    public void EveryArchitectureHasUniqueNames()
    {
        foreach (var name in Architectures.Names)
        {
            var a = Create(name);
            Assert.Equal(a.Tensors.Count, a.Tensors.Select(t => t.Name).Distinct().Count());
        }
    }
}
