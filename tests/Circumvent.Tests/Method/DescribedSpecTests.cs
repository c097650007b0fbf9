using Circumvent.Method.Permutations;
using Circumvent.Models;
using Circumvent.Models.Described;
using Circumvent.Tests.Models.Described;

namespace Circumvent.Tests.Method;

/// <summary>The function-preservation invariants of the TSC issue for specs derived from descriptions.</summary>
public class DescribedSpecTests
{
    [Theory]
    [MemberData(nameof(TestDescriptions.Names), MemberType = typeof(TestDescriptions))]
    public void RandomPermutationPreservesLogitsInEvalAndTrainMode(string name)
    {
        var arch = TestDescriptions.Architecture(name);
        // Dropout draws its mask element by element, so in training a permuted network drops other units:
        // equal only in distribution. Networks with dropout are compared in eval mode.
        bool hasDropout = arch.Config.Description!.AllLayers().Any(l => l is DropoutLayer);
        PermutationTestNets.AssertRandomPermutationPreservesLogits(arch, arch.Config.Height, name, hasDropout ? [false] : [false, true]);
    }

    [Theory]
    [MemberData(nameof(TestDescriptions.Names), MemberType = typeof(TestDescriptions))]
    public void ApplyThenInverseIsBitExactIdentity(string name)
    {
        var arch = TestDescriptions.Architecture(name);
        var p = PermutationTestNets.Weights(arch, 4);
        var spec = PermutationSpecs.For(arch);
        var perms = Permutation.Random(spec, new Random(5));
        var back = Permutation.Apply(Permutation.Apply(p, spec, perms), spec, Permutation.Inverse(perms));
        Assert.Equal(p.Names, back.Names);
        foreach (var e in p) Assert.Equal(e.Tensor.ToArray(), back[e.Name].ToArray());
    }

    [Theory]
    [MemberData(nameof(TestDescriptions.Names), MemberType = typeof(TestDescriptions))]
    public void BatchNormStatisticsMoveWithTheirChannels(string name) =>
        PermutationTestNets.AssertBatchNormStatisticsMove(TestDescriptions.Architecture(name));

    [Fact]
    public void CnnSmallDescriptionDerivesTheBuiltInSpec()
    {
        var described = PermutationSpecs.For(TestDescriptions.Architecture("cnn-small"));
        var builtIn = PermutationSpecs.For(Architectures.Create(new ArchitectureConfig("cnn-small", 3, 16, 16, 5, 0.125)));
        Assert.Equal(builtIn.Groups.Count, described.Groups.Count);
        for (int g = 0; g < builtIn.Groups.Count; g++)
        {
            Assert.Equal(builtIn.Groups[g].Probe, described.Groups[g].Probe);
            Assert.Equal(builtIn.Groups[g].Size, described.Groups[g].Size);
            Assert.Equal(builtIn.Groups[g].Producers, described.Groups[g].Producers);
            Assert.Equal(builtIn.Groups[g].Consumers, described.Groups[g].Consumers);
        }
    }

    [Fact]
    public void ResidualStreamsShareOnePermutationAndTheOutputStaysFixed()
    {
        var spec = PermutationSpecs.For(TestDescriptions.Architecture("tiny-resnet"));
        var byName = spec.Groups.ToDictionary(g => g.Name);
        // Stem, block 1 (identity) and block 2 (pre-activation, identity) add into one stream, probed at the stem.
        var stream = byName["stream stem"];
        Assert.Equal(["stem.weight", "stem_bn.weight", "stem_bn.bias", "stem_bn.running_mean", "stem_bn.running_var",
                "b1.conv2.weight", "b1.bn2.weight", "b1.bn2.bias", "b1.bn2.running_mean", "b1.bn2.running_var",
                "b2.bn1.weight", "b2.bn1.bias", "b2.bn1.running_mean", "b2.bn1.running_var", "b2.conv1.weight", "b2.conv1.bias"],
            stream.Producers.Select(a => a.Tensor));
        Assert.Equal(["b1.conv1.weight", "b2.conv1.weight", "b3.conv1.weight", "b3.shortcut.0.weight"], stream.Consumers.Select(a => a.Tensor));
        // The projection block starts a new stream: body conv2 + BN and shortcut conv + BN, read by the head.
        var projected = byName["stream b3.conv2"];
        Assert.Equal(["b3.conv2.weight", "b3.bn2.weight", "b3.bn2.bias", "b3.bn2.running_mean", "b3.bn2.running_var",
                "b3.shortcut.0.weight", "b3.shortcut.1.weight", "b3.shortcut.1.bias", "b3.shortcut.1.running_mean", "b3.shortcut.1.running_var"],
            projected.Producers.Select(a => a.Tensor));
        Assert.Equal(new TensorAxis("linear.weight", 1), Assert.Single(projected.Consumers));
        Assert.Equal(["stream stem", "b1.conv1", "b3.conv1", "stream b3.conv2"], spec.Groups.Select(g => g.Name));
        Assert.DoesNotContain(spec.Groups.SelectMany(g => g.Axes), a => a.Tensor.StartsWith("linear.", StringComparison.Ordinal) && a.Axis == 0);
        Assert.Equal(["stream stem", "b1.conv1", "b3.conv1"], PermutationSpecs.For(TestDescriptions.Architecture("tiny-resnet"), keepLastStreamUnpermuted: true).Groups.Select(g => g.Name));
    }

    [Fact]
    public void FlattenAfterAConvGivesTheLinearLayerHeightTimesWidthColumnsPerChannel()
    {
        var spec = PermutationSpecs.For(TestDescriptions.Architecture("plain-cnn"));
        var last = spec.Groups.Single(g => g.Name == "features.4");
        Assert.Equal(new TensorAxis("classifier.0.weight", 1, 16), Assert.Single(last.Consumers)); // 7 channels × 4×4
        Assert.Equal(["features.0", "features.4", "classifier.0"], spec.Groups.Select(g => g.Name));
    }

    [Fact]
    public void AResidualOnTheRawInputKeepsItsStreamFixed()
    {
        var arch = Architectures.Create(Circumvent.Models.Described.DescriptionParser.ParseJson("""
            { "input": [3, 4, 4], "classes": 2, "layers": [
              { "type": "residual", "body": [ { "type": "conv2d", "name": "c", "in_channels": 3, "out_channels": 3, "kernel_size": 1 } ] },
              { "type": "global_avgpool" }, { "type": "linear", "name": "fc", "in_features": 3, "out_features": 2 } ] }
            """, "t.json").ToConfig());
        // c's outputs are summed with the input channels, which never move: nothing here can be permuted.
        Assert.Empty(PermutationSpecs.For(arch).Groups);
    }
}
