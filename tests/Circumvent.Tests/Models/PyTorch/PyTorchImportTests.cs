using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Checkpoints.PyTorch;
using ParityCheck = Circumvent.Tests.Parity.Parity;

namespace Circumvent.Tests.Models.PyTorch;

/// <summary>Real torch.save files load through the restricted reader and give PyTorch's logits.</summary>
public class PyTorchImportTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(PthFixtures.Names), MemberType = typeof(PthFixtures))]
    public void CheckpointGivesPyTorchLogits(string name)
    {
        var config = PthFixtures.Checkpoints[name];
        var checkpoint = ModelCheckpoint.Load(PthFixtures.PathOf(name), config);
        var expected = PthFixtures.ExpectedLogits();
        var logits = Architectures.Create(config).Forward(checkpoint.Parameters, expected.F32(name + ".input"), ForwardContext.Eval());
        var reference = expected.F32(name + ".logits");
        double maxError = logits.ToArray().Zip(reference.ToArray(), (a, b) => Math.Abs((double)a - b)).Max();
        output.WriteLine($"{name}: max |ours − torch| = {maxError:G3} (max |torch| = {reference.ToArray().Max(v => Math.Abs(v)):G3})");
        ParityCheck.Close($"{name} eval logits", logits, reference);
    }

    [Theory]
    [MemberData(nameof(PthFixtures.Names), MemberType = typeof(PthFixtures))]
    public void ArchitectureIsInferredFromTheTensors(string name)
    {
        var expected = PthFixtures.Checkpoints[name];
        var content = CheckpointFiles.Read(PthFixtures.PathOf(name));
        Assert.Equal(expected, ArchitectureInference.Infer(name, content, null, null, expected.Height, expected.Width));
    }

    [Fact]
    public void DataParallelPrefixIsStrippedAndCountersKept()
    {
        var content = PyTorchCheckpointReader.Read(PthFixtures.PathOf("vgg11_dataparallel"));
        Assert.DoesNotContain(content.Tensors, t => t.Name.StartsWith("module.", StringComparison.Ordinal));
        var counter = Assert.Single(content.Tensors, t => t.Name == "features.1.num_batches_tracked");
        Assert.Equal(SafeTensorDType.I64, counter.DType);
        Assert.Empty(counter.Shape);
    }

    [Fact]
    public void StoredDTypesAreReportedAndConverted()
    {
        var content = PyTorchCheckpointReader.Read(PthFixtures.PathOf("mlp_noncontiguous"));
        var byName = content.Tensors.ToDictionary(t => t.Name);
        Assert.Equal(SafeTensorDType.F64, byName["fc1.bias"].DType);
        Assert.Equal(SafeTensorDType.BF16, byName["fc3.weight"].DType);
        Assert.Equal(SafeTensorDType.F32, byName["fc1.weight"].DType);
        Assert.Equal([32, 192], byName["fc1.weight"].Shape);
        Assert.All(PyTorchCheckpointReader.Read(PthFixtures.PathOf("preact_resnet18_fp16")).Tensors.Where(t => t.IsFloat),
            t => Assert.Equal(SafeTensorDType.F16, t.DType));
    }

    [Fact]
    public void BatchCountersComeFromTheFile()
    {
        var checkpoint = ModelCheckpoint.Load(PthFixtures.PathOf("vgg11_bn"), PthFixtures.Checkpoints["vgg11_bn"]);
        Assert.Equal(8, checkpoint.BatchesTracked.Count);
        Assert.All(checkpoint.BatchesTracked.Values, v => Assert.InRange(v, 1, 4999));
    }
}
