using Circumvent.Models.Checkpoints;
using Circumvent.Models.Checkpoints.PyTorch;

namespace Circumvent.Tests.Models.PyTorch;

/// <summary>The reader refuses anything but a state_dict, names what it refused, and runs nothing.</summary>
public class PyTorchSafetyTests
{
    private static CheckpointException Refused(byte[] file) =>
        Assert.Throws<CheckpointException>(() => PyTorchCheckpointReader.Parse("crafted.pth", new MemoryStream(file)));

    [Fact]
    public void TorchSavedOsSystemPayloadIsRefusedAndNotRun()
    {
        // torch.save pickled os.system under its real module name (posix on Linux).
        string marker = Path.Combine(Environment.CurrentDirectory, "circumvent-was-exploited");
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(PthFixtures.PathOf("malicious"), PthFixtures.Checkpoints["vgg11_bn"]));
        Assert.Contains("refused the global 'posix.system'", e.Message);
        Assert.Contains("Nothing in the file was executed", e.Message);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch", "load")]
    [InlineData("torch._utils", "_rebuild_device_tensor_from_numpy")]
    public void AnyOtherGlobalIsRefusedByName(string module, string name)
    {
        var e = Refused(PthBuilder.Zip(PthBuilder.CallPickle(module, name, "echo pwned")));
        Assert.Contains($"refused the global '{module}.{name}'", e.Message);
    }

    [Fact]
    public void PickledModuleGetsAHintToSaveTheStateDict()
    {
        var e = Refused(PthBuilder.Zip(PthBuilder.CallPickle("models.preact_resnet", "PreActResNet18", "x")));
        Assert.Contains("model.state_dict()", e.Message);
    }

    [Fact]
    public void StridedViewIsGatheredInCOrder()
    {
        // Storage 0..11; view offset 1, size (2, 3), stride (1, 4): rows [1, 5, 9] and [2, 6, 10].
        var storage = PthBuilder.Floats([.. Enumerable.Range(0, 12).Select(i => (float)i)]);
        var file = PthBuilder.Zip(PthBuilder.OneTensorPickle(12, 1, [2, 3], [1, 4]), new Dictionary<string, byte[]> { ["0"] = storage });
        var t = Assert.Single(PyTorchCheckpointReader.Parse("strided.pth", new MemoryStream(file)).Tensors);
        Assert.Equal([2, 3], t.Shape);
        Assert.Equal([1f, 5f, 9f, 2f, 6f, 10f], t.Floats!);
    }

    [Theory]
    [InlineData(12, 10, new long[] { 3 }, new long[] { 1 }, "reaches past")]           // offset + size beyond storage
    [InlineData(12, 0, new long[] { 2, 2 }, new long[] { 12, 1 }, "stride 12")]         // stride beyond storage
    [InlineData(12, 0, new long[] { 100000, 100000 }, new long[] { 1, 1 }, "too many elements")]
    [InlineData(1L << 40, 0, new long[] { 1 }, new long[] { 1 }, "limit")]               // absurd storage size
    [InlineData(13, 0, new long[] { 1 }, new long[] { 1 }, "needs 52 bytes")]            // storage entry too short
    public void ViewsOutsideTheirStorageAreRefused(long numel, long offset, long[] size, long[] stride, string expected)
    {
        var storage = PthBuilder.Floats(new float[12]);
        var file = PthBuilder.Zip(PthBuilder.OneTensorPickle(numel, offset, size, stride), new Dictionary<string, byte[]> { ["0"] = storage });
        var e = Refused(file);
        Assert.Contains(expected, e.Message);
        Assert.Equal("w", e.TensorName);
    }

    [Fact]
    public void UnknownStorageTypeAndMissingStorageAreNamed()
    {
        Assert.Contains("refused the global 'torch.ComplexFloatStorage'", Refused(PthBuilder.Zip(PthBuilder.OneTensorPickle(1, 0, [1], [1], "ComplexFloatStorage"))).Message);
        Assert.Contains("no entry 'archive/data/0'", Refused(PthBuilder.Zip(PthBuilder.OneTensorPickle(1, 0, [1], [1]))).Message);
    }

    [Fact]
    public void TruncatedPickleAndNonZipAreTypedErrors()
    {
        var pickle = PthBuilder.OneTensorPickle(1, 0, [1], [1]);
        Assert.Contains("truncated", Refused(PthBuilder.Zip(pickle[..^5])).Message);
        Assert.Contains("PyTorch", Refused([1, 2, 3, 4, 5]).Message);
    }
}
