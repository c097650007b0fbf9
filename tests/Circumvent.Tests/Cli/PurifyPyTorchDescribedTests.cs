using System.Text.Json;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Checkpoints.PyTorch;
using Circumvent.Models.Described;
using Circumvent.Tests.Models.PyTorch;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Cli;

/// <summary>
/// The end-to-end check: `circumvent purify` on a checkpoint torch.save wrote for a custom
/// network (Fixtures/described/custom_cnn_gray.pth, from make_description_fixtures.py) plus its
/// description, exported as .pth; that export loads back into the PyTorch module. With
/// CIRCUMVENT_EXPORT_DIR set, the export, a fixed input and Circumvent's logits on it are left there for
/// `make_checkpoint_fixtures.py --verify DIR`, whose committed verdict the second test reads.
/// </summary>
public class PurifyPyTorchDescribedTests
{
    public const string PurifiedFile = "custom_cnn_gray.purified.pth";

    private static readonly string FixturePth = TestData.FixturePath("described", "custom_cnn_gray.pth");
    private static readonly string FixtureDescription = TestData.FixturePath("described", "custom_cnn_gray.json");

    [Fact]
    public void PurifyRunsOnAnImportedPthWithItsDescriptionAndWritesPth()
    {
        var dir = CliHarness.TempFolder();
        // 1×16×16 images: the input the description declares.
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 200, testCount: 60, size: 16);
        var output = Path.Combine(dir, "purified.pth");
        var purify = CliHarness.Run("purify", "--model", FixturePth, "--description", FixtureDescription, "--data", data, "--defense", "tsc",
            "--rounds", "1", "--curve-epochs", "1", "--batch-size", "32", "--finetune-epochs", "1", "--clean-fraction", "0.2", "--out", output);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        foreach (var label in new[] { "before", "round 1 · stage 1", "round 1 · stage 2", "after" }) Assert.Contains(label, purify.Stdout);
        Assert.True(PyTorchCheckpointReader.LooksLikeZip(File.ReadAllBytes(output)));

        // Same tensors as the PyTorch module's state_dict (so load_state_dict(strict=True) can accept it), new values.
        var original = ModelCheckpoint.Load(FixturePth, DescriptionParser.ParseFile(FixtureDescription).ToConfig());
        var purified = ModelCheckpoint.Load(output);
        Assert.Equal("custom-cnn-gray", purified.Architecture.Name);
        Assert.Equal(original.Parameters.Select(e => e.Name).Order(), purified.Parameters.Select(e => e.Name).Order());
        Assert.Equal(original.BatchesTracked.Keys.Order(), purified.BatchesTracked.Keys.Order());
        Assert.NotEqual(original.Parameters["classifier.1.weight"].ToArray(), purified.Parameters["classifier.1.weight"].ToArray());

        if (Environment.GetEnvironmentVariable(PyTorchExportRoundTripTests.ExportDirVariable) is { } keep)
        {
            Directory.CreateDirectory(keep);
            File.Copy(output, Path.Combine(keep, PurifiedFile), overwrite: true);
            var input = Tensor.Randn(new Random(7), 3, 1, 16, 16);
            var logits = Architectures.Create(purified.Architecture).Forward(purified.Parameters, input, ForwardContext.Eval());
            PyTorchExportRoundTripTests.Publish(keep, PurifiedFile, purified.Architecture, input, logits);
        }
    }

    [Fact]
    public void CommittedVerdictSaysThePurifiedExportReloadsInPyTorch()
    {
        using var result = JsonDocument.Parse(File.ReadAllText(TestData.FixturePath("pth", "roundtrip_result.json")));
        var checks = result.RootElement.GetProperty("checks").EnumerateArray().ToList();
        var purified = Assert.Single(checks, c => c.GetProperty("file").GetString() == PurifiedFile);
        Assert.Equal("torch.load(weights_only=True)", purified.GetProperty("reader").GetString());
        Assert.True(purified.GetProperty("passed").GetBoolean());
        double error = purified.GetProperty("max_abs_error").GetDouble(), scale = purified.GetProperty("scale").GetDouble();
        Assert.InRange(error, 0, 1e-4 * scale);
        Assert.All(checks, c => Assert.True(c.GetProperty("passed").GetBoolean(), c.GetProperty("file").GetString()));
        Assert.True(result.RootElement.GetProperty("passed").GetBoolean());
    }
}
