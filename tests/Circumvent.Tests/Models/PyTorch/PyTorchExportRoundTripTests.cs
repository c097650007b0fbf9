using System.Text.Json;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Models.PyTorch;

/// <summary>
/// Exports (.pth and .safetensors) reload in Circumvent with bit-identical weights and logits. With
/// CIRCUMVENT_EXPORT_DIR set, the exports, inputs, Circumvent's logits and a manifest are left there for
/// `make_checkpoint_fixtures.py --verify DIR`, which loads them in PyTorch (committed result:
/// Fixtures/pth/roundtrip_result.json).
/// </summary>
public class PyTorchExportRoundTripTests
{
    public const string ExportDirVariable = "CIRCUMVENT_EXPORT_DIR";

    public static IEnumerable<object[]> Cases =>
        from name in new[] { "preact_resnet18_backdoorbench", "vgg11_bn", "mlp_noncontiguous", "airnet_airbench" }
        from extension in new[] { ".pth", ".safetensors" }
        select new object[] { name, extension };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExportReloadsWithTheSameWeightsAndLogits(string name, string extension)
    {
        var config = PthFixtures.Checkpoints[name];
        var original = ModelCheckpoint.Load(PthFixtures.PathOf(name), config);
        string? keep = Environment.GetEnvironmentVariable(ExportDirVariable);
        string folder = keep ?? Scratch.NewFolder("export-");
        Directory.CreateDirectory(folder);
        try
        {
            string file = $"{name}.export{extension}";
            original.Save(Path.Combine(folder, file));
            var reloaded = ModelCheckpoint.Load(Path.Combine(folder, file));
            Assert.Equal(config, reloaded.Architecture);
            foreach (var entry in original.Parameters)
                Assert.Equal(entry.Tensor.ToArray(), reloaded.Parameters[entry.Name].ToArray());
            Assert.Equal(original.BatchesTracked.OrderBy(kv => kv.Key), reloaded.BatchesTracked.OrderBy(kv => kv.Key));

            var input = Tensor.Randn(new Random(7), 3, config.InChannels, config.Height, config.Width);
            var architecture = Architectures.Create(config);
            var logits = architecture.Forward(reloaded.Parameters, input, ForwardContext.Eval());
            Assert.Equal(architecture.Forward(original.Parameters, input, ForwardContext.Eval()).ToArray(), logits.ToArray());
            if (keep is not null) Publish(folder, file, config, input, logits);
        }
        finally
        {
            if (keep is null) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Inputs + our logits beside the export, and a manifest entry for the Python check.</summary>
    internal static void Publish(string folder, string file, ArchitectureConfig c, Tensor input, Tensor logits)
    {
        string io = file + ".io.safetensors";
        SafeTensorsWriter.Write(Path.Combine(folder, io),
            [SafeTensor.FromFloats("input", input.Shape.ToArray(), input.ToArray()), SafeTensor.FromFloats("logits", logits.Shape.ToArray(), logits.ToArray())]);
        var entry = new Dictionary<string, object>
        {
            ["file"] = file, ["io"] = io, ["arch"] = c.Name, ["width"] = c.WidthMultiplier, ["in_channels"] = c.InChannels,
            ["classes"] = c.Classes, ["height"] = c.Height, ["width_px"] = c.Width,
        };
        // One JSON file per export; the manifest is their union (tests may run in parallel).
        File.WriteAllText(Path.Combine(folder, file + ".manifest.json"), JsonSerializer.Serialize(entry));
    }
}
