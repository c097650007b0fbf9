using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>
/// A state_dict saved from PyTorch (float32 + I64 num_batches_tracked, {"format":"pt"}) loads
/// through ModelCheckpoint, gives PyTorch's eval logits, and survives our writer bit for bit.
/// </summary>
public class PyTorchCheckpointTests
{
    private const string CheckpointFile = "pt_checkpoint_preact_resnet18_w0125.safetensors";
    private static readonly ArchitectureConfig Config = new("preact-resnet18", 3, 32, 32, 10, 0.125);

    [Fact]
    public void PyTorchCheckpointLoadsAndGivesPyTorchLogits()
    {
        var checkpoint = ModelCheckpoint.Load(TestData.FixturePath(CheckpointFile), Config);
        var io = SafetensorsFixture.Load("pt_checkpoint_preact_resnet18_w0125.io.safetensors");
        var logits = Architectures.Create(Config).Forward(checkpoint.Parameters, io.F32("input"), ForwardContext.Eval());
        Parity.Close("preact-resnet18 w0.125 checkpoint eval logits", logits, io.F32("logits_eval"));

        // Every tensor exactly as torch stored it, including the int64 batch counters.
        var raw = SafetensorsFixture.Load(CheckpointFile);
        foreach (var entry in checkpoint.Parameters)
            Assert.Equal(raw.F32(entry.Name).ToArray(), entry.Tensor.ToArray());
        var counters = raw.Names.Where(n => n.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToArray();
        Assert.Equal(counters.Length, checkpoint.BatchesTracked.Count);
        foreach (var name in counters)
            Assert.Equal(raw.I64(name)[0], checkpoint.BatchesTracked[name[..^".num_batches_tracked".Length]]);
    }

    [Fact]
    public void RewrittenCheckpointReloadsBitIdentical()
    {
        var original = ModelCheckpoint.Load(TestData.FixturePath(CheckpointFile), Config);
        var path = Scratch.NewFilePath("pt-roundtrip-", ".safetensors");
        try
        {
            original.Save(path);
            var reloaded = ModelCheckpoint.Load(path);
            Assert.Equal(Config, reloaded.Architecture);
            Assert.Equal(original.Parameters.Names, reloaded.Parameters.Names);
            foreach (var entry in original.Parameters)
            {
                var a = entry.Tensor.ToArray().Select(BitConverter.SingleToInt32Bits);
                var b = reloaded.Parameters[entry.Name].ToArray().Select(BitConverter.SingleToInt32Bits);
                Assert.True(a.SequenceEqual(b), $"{entry.Name} changed bits after save/reload.");
                Assert.Equal(entry.Role, reloaded.Parameters.RoleOf(entry.Name));
            }
            Assert.Equal(original.BatchesTracked.OrderBy(kv => kv.Key), reloaded.BatchesTracked.OrderBy(kv => kv.Key));
            // Our file is readable by a reader that is not ours (the fixture reader), with the same values.
            var independent = SafetensorsFixture.Load(CheckpointFile);
            var ours = SafetensorsFixture.LoadPath(path);
            foreach (var name in independent.Names)
                if (name.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
                    Assert.Equal(independent.I64(name), ours.I64(name));
                else
                    Assert.Equal(independent.F32(name).ToArray(), ours.F32(name).ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
