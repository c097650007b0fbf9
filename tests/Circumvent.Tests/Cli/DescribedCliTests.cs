using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Cli;

/// <summary>`inspect`, and `train` / `eval` / `purify` with `--description`.</summary>
public class DescribedCliTests
{
    private static readonly string FixtureModel = TestData.FixturePath("described", "custom_cnn.safetensors");
    private static readonly string FixtureDescription = TestData.FixturePath("described", "custom_cnn.json");

    /// <summary>A small 1×28×28 → 10 network with a residual block, for the synthetic MNIST-layout data.</summary>
    private const string TinyNet = """
        { "name": "tiny-net", "input": [1, 28, 28], "classes": 10,
          "layers": [
            { "type": "conv2d", "name": "stem.0", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "bias": false },
            { "type": "batchnorm2d", "name": "stem.1", "num_features": 4 },
            { "type": "relu" },
            { "type": "residual", "activation": "relu", "body": [
              { "type": "conv2d", "name": "block.conv", "in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": false },
              { "type": "batchnorm2d", "name": "block.bn", "num_features": 4 } ] },
            { "type": "maxpool2d", "kernel_size": 2 },
            { "type": "conv2d", "name": "head.conv", "in_channels": 4, "out_channels": 6, "kernel_size": 3, "padding": 1 },
            { "type": "relu" },
            { "type": "flatten" },
            { "type": "linear", "name": "fc1", "in_features": 294, "out_features": 16 },
            { "type": "relu" },
            { "type": "linear", "name": "fc2", "in_features": 16, "out_features": 10 }
          ] }
        """;

    [Fact]
    public void InspectListsTensorsAndConfirmsTheFit()
    {
        var run = CliHarness.Run("inspect", FixtureModel, "--description", FixtureDescription);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("30 tensors, 3,750 parameters (+ 72 BN running statistics)", run.Stdout);
        Assert.Matches(@"classifier\.1\.weight\s+F32\s+\(24, 48\)\s+1,152", run.Stdout);
        Assert.Matches(@"down\.1\.num_batches_tracked\s+I64\s+\(\)\s+1", run.Stdout);
        Assert.Contains("format = pt", run.Stdout);
        Assert.Contains("fits description 'custom-cnn'", run.Stdout);

        var bare = CliHarness.Run("inspect", FixtureModel);
        Assert.Equal(0, bare.ExitCode);
        Assert.DoesNotContain("fits", bare.Stdout);
    }

    [Fact]
    public void InspectNamesEveryTensorThatDoesNotFitAndExitsTwo()
    {
        var dir = CliHarness.TempFolder();
        var text = File.ReadAllText(FixtureDescription)
            .Replace("\"block.body.3\"", "\"block.body.5\"")                     // missing + unexpected
            .Replace("\"out_features\": 24", "\"out_features\": 20")              // shape mismatch ...
            .Replace("\"in_features\": 24", "\"in_features\": 20");               // ... carried to the next layer
        var description = Path.Combine(dir, "wrong.json");
        File.WriteAllText(description, text);

        var run = CliHarness.Run("inspect", FixtureModel, "--description", description);
        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.StderrLines);
        Assert.Contains("does not fit description 'custom-cnn'", line);
        Assert.Contains("missing tensors: block.body.5.weight", line);
        Assert.Contains("unexpected tensors: block.body.3.weight", line);
        Assert.Contains("tensor 'classifier.1.weight': expected (20, 48), file has (24, 48)", line);
        Assert.Contains("tensor 'classifier.3.weight': expected (10, 20), file has (10, 24)", line);
    }

    [Fact]
    public void BadDescriptionsAndOptionClashesAreOneLineExitTwo()
    {
        var dir = CliHarness.TempFolder();
        var broken = Path.Combine(dir, "broken.json");
        File.WriteAllText(broken, TinyNet.Replace("\"maxpool2d\"", "\"maxpool3d\""));
        var data = "mnist:" + Path.Combine(dir, "nodata");
        var output = Path.Combine(dir, "m.safetensors");
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["inspect", FixtureModel, "--description", broken], "at $.layers[4].type: unknown layer type 'maxpool3d'"),
            (["inspect", FixtureModel, "--description", Path.Combine(dir, "absent.json")], "--description"),
            (["train", "--description", broken, "--data", data, "--out", output], "unknown layer type 'maxpool3d'"),
            (["train", "--arch", "mlp", "--description", broken, "--data", data, "--out", output], "give either --arch NAME or --description FILE"),
            (["train", "--data", data, "--out", output], "give either --arch NAME or --description FILE"),
        })
        {
            var run = CliHarness.Run(args);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(expected, Assert.Single(run.StderrLines));
            Assert.False(File.Exists(output));
        }
    }

    [Fact]
    public void TrainRejectsADescriptionThatDoesNotFitTheData()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 60, testCount: 20);
        var output = Path.Combine(dir, "m.safetensors");
        var sevenClasses = TinyNet.Replace("\"classes\": 10", "\"classes\": 7").Replace("\"out_features\": 10", "\"out_features\": 7");
        var colour = TinyNet.Replace("\"input\": [1, 28, 28]", "\"input\": [3, 28, 28]").Replace("\"in_channels\": 1,", "\"in_channels\": 3,");
        foreach (var (text, expected) in new[]
        {
            (sevenClasses, "--description 'tiny-net' has 7 classes but mnist has 10."),
            (colour, "--description 'tiny-net' expects 3×28×28 images but mnist has 1×28×28."),
        })
        {
            var description = Path.Combine(dir, "net.json");
            File.WriteAllText(description, text);
            var run = CliHarness.Run("train", "--description", description, "--data", data, "--epochs", "1", "--out", output);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(expected, Assert.Single(run.StderrLines));
            Assert.False(File.Exists(output));
        }
    }

    [Fact]
    public void TrainEvalAndPurifyADescribedModel()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 300, testCount: 100);
        var description = Path.Combine(dir, "tiny.json");
        File.WriteAllText(description, TinyNet);
        var model = Path.Combine(dir, "backdoored.safetensors");

        var train = CliHarness.Run("train", "--description", description, "--data", data, "--epochs", "2", "--batch-size", "30",
            "--no-augment", "--attack", "badnet", "--poison-rate", "0.1", "--target", "0", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("training tiny-net", train.Stdout);

        // The description travels in the checkpoint: eval needs no --description.
        var checkpoint = ModelCheckpoint.Load(model);
        Assert.Equal("tiny-net", checkpoint.Architecture.Name);
        Assert.NotNull(checkpoint.Architecture.Description);
        var eval = CliHarness.Run("eval", "--model", model, "--data", data, "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains("\"asr\"", eval.Stdout);

        // A plain state_dict (no Circumvent metadata) is read through --description.
        var plain = Path.Combine(dir, "plain.safetensors");
        SafeTensorsWriter.Write(plain, [.. checkpoint.Parameters.Select(e => SafeTensor.FromFloats(e.Name, e.Tensor.Shape.ToArray(), e.Tensor.ToArray()))]);
        var withoutMetadata = CliHarness.Run("eval", "--model", plain, "--data", data, "--json");
        Assert.Equal(2, withoutMetadata.ExitCode);
        var described = CliHarness.Run("eval", "--model", plain, "--data", data, "--description", description, "--json", "--attack", "badnet", "--target", "0");
        Assert.True(described.ExitCode == 0, described.Stderr);
        Assert.Equal(eval.Stdout, described.Stdout);

        var output = Path.Combine(dir, "purified.safetensors");
        var report = Path.Combine(dir, "report.json");
        var purify = CliHarness.Run("purify", "--model", plain, "--description", description, "--data", data, "--defense", "tsc",
            "--rounds", "1", "--curve-epochs", "1", "--batch-size", "32", "--finetune-epochs", "1", "--clean-fraction", "0.2",
            "--attack", "badnet", "--target", "0", "--out", output, "--report", report);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        foreach (var label in new[] { "before", "round 1 · stage 1", "round 1 · stage 2", "after" }) Assert.Contains(label, purify.Stdout);
        Assert.True(File.Exists(report));
        var purified = ModelCheckpoint.Load(output);
        Assert.Equal("tiny-net", purified.Architecture.Name);
        Assert.NotEqual(checkpoint.Parameters["fc1.weight"].ToArray(), purified.Parameters["fc1.weight"].ToArray());
    }
}
