using Circumvent.Engine;
using Circumvent.Method.Permutations;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

public class PermutationSpecTests
{
    // The last tensor is the output layer's bias, or its weight when it has none (airnet).
    private static string OutputLayer(IArchitecture arch) => arch.Tensors[^1].Name[..arch.Tensors[^1].Name.LastIndexOf('.')];

    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void EveryHiddenAxisIsCoveredAndTheOutputRowsNever(string name)
    {
        var (arch, _) = PermutationTestNets.Create(name);
        var spec = PermutationSpecs.For(arch);
        spec.Validate(arch.Initialize(new Random(0)));
        var axes = spec.Groups.SelectMany(g => g.Axes).Select(a => (a.Tensor, a.Axis)).ToHashSet();
        string head = OutputLayer(arch), first = arch.Tensors[0].Name;
        foreach (var t in arch.Tensors)
        {
            bool isHead = t.Name.StartsWith(head + ".", StringComparison.Ordinal);
            Assert.True(axes.Contains((t.Name, 0)) != isHead, $"{name}: axis 0 of {t.Name} {(isHead ? "must not" : "must")} be permuted");
            if (t.Shape.Length >= 2)
                Assert.True(axes.Contains((t.Name, 1)) != (t.Name == first), $"{name}: axis 1 of {t.Name}");
        }
    }

    [Fact]
    public void PreActResNetHasTwelveGroupsWithSharedStreams()
    {
        var (arch, _) = PermutationTestNets.Create("preact-resnet18");
        var spec = PermutationSpecs.For(arch);
        Assert.Equal(new[]
            {"stem", "layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2", "layer2.1.conv1",
             "layer3.0.conv1", "layer3", "layer3.1.conv1", "layer4.0.conv1", "layer4", "layer4.1.conv1"},
            spec.Groups.Select(g => g.Name));
        var stem = spec.Groups[0];
        Assert.Equal("conv1", stem.Probe);
        Assert.Equal(new[] {"conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
            "layer1.0.conv2.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias", "layer1.1.bn1.running_mean", "layer1.1.bn1.running_var",
            "layer1.1.conv2.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias", "layer2.0.bn1.running_mean", "layer2.0.bn1.running_var"},
            stem.Producers.Select(a => a.Tensor));
        Assert.Equal(new[] { "layer1.0.conv1.weight", "layer1.1.conv1.weight", "layer2.0.conv1.weight", "layer2.0.shortcut.0.weight" },
            stem.Consumers.Select(a => a.Tensor));
        var layer2 = spec.Groups.Single(g => g.Name == "layer2");
        Assert.Equal("layer2.0.conv2", layer2.Probe);
        Assert.Contains(layer2.Producers, a => a.Tensor == "layer2.0.shortcut.0.weight");
        var layer4 = spec.Groups.Single(g => g.Name == "layer4");
        Assert.Contains(layer4.Consumers, a => a.Tensor == "linear.weight" && a.Axis == 1);
    }

    [Fact]
    public void ResNetStreamsCarryTheProjectionBatchNorm()
    {
        var (arch, _) = PermutationTestNets.Create("resnet18");
        var spec = PermutationSpecs.For(arch);
        Assert.Equal(12, spec.Groups.Count);
        var layer3 = spec.Groups.Single(g => g.Name == "layer3");
        Assert.Contains(layer3.Producers, a => a.Tensor == "layer3.0.shortcut.1.running_var");
        Assert.Contains(layer3.Producers, a => a.Tensor == "layer3.1.bn2.running_mean");
        Assert.Contains(spec.Groups.Single(g => g.Name == "layer2").Consumers, a => a.Tensor == "layer3.0.shortcut.0.weight");
    }

    [Fact]
    public void VggConvBiasesArePermutedAndCnnSmallFlattenMovesWholeMaps()
    {
        var (vgg, _) = PermutationTestNets.Create("vgg11");
        var vggSpec = PermutationSpecs.For(vgg);
        Assert.Equal(8, vggSpec.Groups.Count);
        Assert.All(vggSpec.Groups, g => Assert.Contains(g.Producers, a => a.Tensor == g.Probe + ".bias"));

        var (cnn, size) = PermutationTestNets.Create("cnn-small");
        var last = PermutationSpecs.For(cnn).Groups[^1];
        var fc = Assert.Single(last.Consumers);
        Assert.Equal(("fc.weight", 1, size / 8 * (size / 8)), (fc.Tensor, fc.Axis, fc.UnitLength));
    }

    [Theory]
    [InlineData("preact-resnet18", "layer4")]
    [InlineData("resnet18", "layer4")]
    [InlineData("vgg16", "features.40")]
    [InlineData("mlp", "fc2")]
    public void KeepingTheLastStreamLeavesTheFeatureOrderAndTheFunction(string name, string lastGroup)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var full = PermutationSpecs.For(arch);
        var spec = PermutationSpecs.For(arch, keepLastStreamUnpermuted: true);
        Assert.Equal(full.Groups.Count - 1, spec.Groups.Count);
        Assert.DoesNotContain(spec.Groups, g => g.Name == lastGroup);
        Assert.DoesNotContain(spec.Groups.SelectMany(g => g.Axes), a => a.Tensor.StartsWith(OutputLayer(arch) + ".", StringComparison.Ordinal));

        var p = PermutationTestNets.Weights(arch, 1);
        var permuted = Permutation.Apply(p, spec, Permutation.Random(spec, new Random(2)));
        var x = PermutationTestNets.Input(3, 2, size);
        PermutationTestNets.AssertSameLogits(PermutationTestNets.Logits(arch, p, x, false), PermutationTestNets.Logits(arch, permuted, x, false), name);
    }

    [Fact]
    public void ValidationNamesTheMissingOrMisshapenTensor()
    {
        var (arch, _) = PermutationTestNets.Create("mlp");
        var spec = PermutationSpecs.For(arch);
        var p = arch.Initialize(new Random(0));

        var missing = new ParameterSet();
        foreach (var e in p.Where(e => e.Name != "fc2.bias")) missing.Add(e.Name, e.Tensor, e.Role);
        Assert.Contains("'fc2.bias'", Assert.Throws<ArgumentException>(() => Permutation.Apply(missing, spec, Permutation.Identity(spec))).Message);

        var wrong = new ParameterSet();
        foreach (var e in p) wrong.Add(e.Name, e.Name == "fc3.weight" ? Tensor.Zeros(5, 3) : e.Tensor, e.Role);
        var error = Assert.Throws<ArgumentException>(() => spec.Validate(wrong)).Message;
        Assert.Contains("'fc3.weight'", error);
        Assert.Contains("(5, 3)", error);
    }

    [Fact]
    public void MalformedPermutationsAreRejected()
    {
        var (arch, _) = PermutationTestNets.Create("mlp");
        var spec = PermutationSpecs.For(arch);
        var p = arch.Initialize(new Random(0));
        var perms = Permutation.Identity(spec);
        perms[1][0] = 1; // 1 twice
        Assert.Contains("'fc2'", Assert.Throws<ArgumentException>(() => Permutation.Apply(p, spec, perms)).Message);
        Assert.Throws<ArgumentException>(() => Permutation.Apply(p, spec, [perms[0]]));
        Assert.Contains("entries", Assert.Throws<ArgumentException>(() => Permutation.Apply(p, spec, [perms[0], [0, 1]])).Message);
    }

    [Fact]
    public void AnAxisClaimedByTwoGroupsIsRejected()
    {
        var axis = new TensorAxis("a.weight", 0);
        var error = Assert.Throws<ArgumentException>(() => new PermutationSpec(
            [new PermutationGroup("g1", 2, "a", [axis], []), new PermutationGroup("g2", 2, "a", [axis], [])]));
        Assert.Contains("'g1'", error.Message);
        Assert.Contains("'g2'", error.Message);
    }
}
