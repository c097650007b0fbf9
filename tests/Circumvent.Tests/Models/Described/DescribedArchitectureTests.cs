using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;
using Circumvent.Tests.Method;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Models.Described;

public class DescribedArchitectureTests
{
    [Fact]
    public void CnnSmallDescriptionComputesWhatTheBuiltInComputesOnTheSameWeights()
    {
        var builtIn = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 16, 16, 5, 0.125));
        var described = TestDescriptions.Architecture("cnn-small");
        Assert.Equal(builtIn.Tensors.Select(t => (t.Name, t.Role)), described.Tensors.Select(t => (t.Name, t.Role)));
        Assert.All(builtIn.Tensors.Zip(described.Tensors), pair => Assert.Equal(pair.First.Shape, pair.Second.Shape));

        var p = PermutationTestNets.Weights(builtIn, 3);
        var x = PermutationTestNets.Input(4, 3, 16);
        foreach (var training in new[] { false, true })
            Assert.Equal(PermutationTestNets.Logits(builtIn, p, x, training).ToArray(), PermutationTestNets.Logits(described, p, x, training).ToArray());
        // Same initialisation rule and draw order as the built-in.
        Assert.Equal(builtIn.Initialize(new Random(9))["conv3.weight"].ToArray(), described.Initialize(new Random(9))["conv3.weight"].ToArray());
    }

    [Fact]
    public void PyTorchCustomCnnGivesItsLogits()
    {
        var description = DescriptionParser.ParseFile(TestData.FixturePath("described", "custom_cnn.json"));
        var checkpoint = ModelCheckpoint.Load(TestData.FixturePath("described", "custom_cnn.safetensors"), description.ToConfig());
        Assert.Equal(7, checkpoint.BatchesTracked["block.body.1"]);
        var io = SafetensorsFixture.Load(Path.Combine("described", "custom_cnn.io.safetensors"));
        var arch = Architectures.Create(checkpoint.Architecture);
        var logits = PermutationTestNets.Logits(arch, checkpoint.Parameters, io.F32("input"), training: false);
        PermutationTestNets.AssertSameLogits(io.F32("logits_eval"), logits, "custom_cnn vs PyTorch");
    }

    [Fact]
    public void CheckpointOfADescribedModelReloadsWithoutTheFile()
    {
        var arch = TestDescriptions.Architecture("tiny-resnet");
        var p = PermutationTestNets.Weights(arch, 5);
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var path = Path.Combine(folder.Path, "m.safetensors");
        new ModelCheckpoint { Architecture = arch.Config, Parameters = p }.Save(path);

        var loaded = ModelCheckpoint.Load(path);
        Assert.NotNull(loaded.Architecture.Description);
        Assert.Equal("tiny-resnet", loaded.Architecture.Name);
        var reloaded = Architectures.Create(loaded.Architecture);
        var x = PermutationTestNets.Input(6, 2, 8);
        Assert.Equal(PermutationTestNets.Logits(arch, p, x, false).ToArray(), PermutationTestNets.Logits(reloaded, loaded.Parameters, x, false).ToArray());
    }

    [Fact]
    public void ConfigThatDisagreesWithItsDescriptionIsRefused()
    {
        var config = TestDescriptions.Architecture("mlp").Config with { Height = 9 };
        var e = Assert.Throws<ArgumentException>(() => Architectures.Create(config));
        Assert.Contains("does not agree with its description", e.Message);
    }

    [Fact]
    public void WrongInputSizeIsRefused()
    {
        var arch = TestDescriptions.Architecture("plain-cnn");
        var e = Assert.Throws<ArgumentException>(() => arch.Forward(arch.Initialize(new Random(0)), Tensor.Zeros(1, 3, 9, 9), ForwardContext.Eval()));
        Assert.Contains("8×8", e.Message);
    }

    [Fact]
    public void DropoutIsActiveInTrainingOnly()
    {
        var arch = TestDescriptions.Architecture("plain-cnn");
        var p = arch.Initialize(new Random(1));
        var x = PermutationTestNets.Input(2, 2, 8);
        using var _ = GradMode.Disable();
        Tensor Train(int seed) => arch.Forward(p, x, ForwardContext.Train(null, new Random(seed)));
        Assert.NotEqual(Train(1).ToArray(), Train(2).ToArray());
        Assert.Equal(arch.Forward(p, x, ForwardContext.Eval()).ToArray(), arch.Forward(p, x, ForwardContext.Eval()).ToArray());
    }
}
