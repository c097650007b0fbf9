namespace Circumvent.Tests.Cli;

/// <summary>
/// Every user mistake must end with exit code 2 and ONE line on stderr naming the culprit —
/// no stack trace — and must leave --out alone.
/// </summary>
public class CliBadInputTests
{
    private static readonly Lazy<(string Dir, string Data, string Model, string SmallData)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 100, testCount: 30);
        var small = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "small"), trainCount: 20, testCount: 20, size: 14);
        var model = Path.Combine(dir, "model.safetensors");
        var run = CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", data, "--epochs", "1", "--out", model);
        if (run.ExitCode != 0) throw new InvalidOperationException("fixture training failed: " + run.Stderr);
        return (dir, data, model, small);
    });

    private static void AssertBadInput(CliHarness.Result result, params string[] expectedWords)
    {
        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}, stderr: {result.Stderr}");
        Assert.Single(result.StderrLines);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
        foreach (var word in expectedWords)
            Assert.Contains(word, result.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    private static string[] Train(string data, string output, params string[] extra) =>
        extra.Contains("--epochs")
            ? ["train", "--arch", "mlp", "--width", "0.125", "--data", data, "--out", output, .. extra]
            : ["train", "--arch", "mlp", "--width", "0.125", "--data", data, "--epochs", "1", "--out", output, .. extra];

    public static TheoryData<string[], string[]> TrainMistakes => new()
    {
        { ["--epochs", "0"], ["--epochs", "0"] },
        { ["--epochs", "-3"], ["--epochs", "-3"] },
        { ["--batch-size", "0"], ["--batch-size", "0"] },
        { ["--batch-size", "-8"], ["--batch-size"] },
        { ["--lr", "-1"], ["--lr"] },
        { ["--optimizer", "rmsprop"], ["--optimizer", "rmsprop", "sgd"] },
        { ["--schedule", "linear"], ["--schedule", "linear", "cosine"] },
        { ["--label-smoothing", "1.5"], ["--label-smoothing"] },
        { ["--warmup-epochs", "5"], ["--warmup-epochs"] },
        { ["--epochs", "abc"], ["abc", "--epochs"] },
        { ["--augment", "--no-augment"], ["--augment", "--no-augment"] },
        { ["--bogus-option"], ["--bogus-option"] },
    };

    [Theory]
    [MemberData(nameof(TrainMistakes))]
    public void BadTrainOptionsAreRejectedBeforeTraining(string[] extra, string[] expectedWords)
    {
        var output = Path.Combine(Fixture.Value.Dir, $"bad-{Guid.NewGuid():N}.safetensors");
        AssertBadInput(CliHarness.Run(Train(Fixture.Value.Data, output, extra)), expectedWords);
        Assert.False(File.Exists(output), "--out must not be created when training fails");
    }

    [Fact]
    public void UnknownArchitectureNamesTheKnownOnes()
    {
        var output = Path.Combine(Fixture.Value.Dir, "arch.safetensors");
        var args = Train(Fixture.Value.Data, output);
        args[Array.IndexOf(args, "mlp")] = "resnet1000";
        AssertBadInput(CliHarness.Run(args), "resnet1000", "cnn-small");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void ExistingOutputIsLeftUnchangedWhenTrainingFails()
    {
        var output = Path.Combine(Fixture.Value.Dir, "existing.safetensors");
        File.WriteAllText(output, "previous model");
        AssertBadInput(CliHarness.Run(Train("mnist:/nonexistent/folder", output)), "/nonexistent/folder");
        Assert.Equal("previous model", File.ReadAllText(output));
    }

    [Fact]
    public void MissingDataFolderIsNamed() =>
        AssertBadInput(CliHarness.Run(Train("mnist:/no/such/dir", Path.Combine(Fixture.Value.Dir, "x.safetensors"))), "/no/such/dir");

    [Fact]
    public void UnknownDatasetKindIsNamed() =>
        AssertBadInput(CliHarness.Run(Train("imagenet:/data", Path.Combine(Fixture.Value.Dir, "x.safetensors"))), "imagenet", "cifar10");

    [Fact]
    public void TruncatedDataFileIsNamed()
    {
        var dir = CliHarness.TempFolder();
        CliHarness.WriteSyntheticMnistLayout(dir, trainCount: 20, testCount: 10);
        var images = Path.Combine(dir, "train-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(images);
        File.WriteAllBytes(images, bytes[..(bytes.Length / 2)]);
        var output = Path.Combine(dir, "out.safetensors");
        AssertBadInput(CliHarness.Run(Train("mnist:" + dir, output)), "train-images-idx3-ubyte");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void OutputInMissingFolderIsRejected()
    {
        var output = Path.Combine(Fixture.Value.Dir, "missing-folder", "m.safetensors");
        AssertBadInput(CliHarness.Run(Train(Fixture.Value.Data, output)), "--out", "does not exist");
        Assert.False(Directory.Exists(Path.GetDirectoryName(output)));
    }

    [Fact]
    public void MissingRequiredOptionIsNamed() =>
        AssertBadInput(CliHarness.Run("train", "--arch", "mlp", "--data", Fixture.Value.Data), "--out");

    [Fact]
    public void MissingModelFileIsNamed() =>
        AssertBadInput(CliHarness.Run("eval", "--model", "/no/such/model.safetensors", "--data", Fixture.Value.Data), "/no/such/model.safetensors");

    [Fact]
    public void CorruptModelFileIsNamed()
    {
        var path = Path.Combine(CliHarness.TempFolder(), "corrupt.safetensors");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        AssertBadInput(CliHarness.Run("eval", "--model", path, "--data", Fixture.Value.Data), "corrupt.safetensors");
    }

    [Fact]
    public void ModelAndDataShapeMismatchIsExplained() =>
        AssertBadInput(CliHarness.Run("eval", "--model", Fixture.Value.Model, "--data", Fixture.Value.SmallData), "1×28×28", "1×14×14");

    [Fact]
    public void EvalBatchSizeMustBePositive() =>
        AssertBadInput(CliHarness.Run("eval", "--model", Fixture.Value.Model, "--data", Fixture.Value.Data, "--batch-size", "0"), "--batch-size");

    [Fact]
    public void BenchRejectsBadShapeAndUnknownArchitecture()
    {
        AssertBadInput(CliHarness.Run("bench", "--arch", "mlp", "--input", "3x32"), "--input", "3x32");
        AssertBadInput(CliHarness.Run("bench", "--arch", "nope"), "nope");
        AssertBadInput(CliHarness.Run("bench", "--arch", "mlp", "--steps", "0"), "--steps");
        AssertBadInput(CliHarness.Run("bench", "curve", "--arch", "nope"), "nope");
        AssertBadInput(CliHarness.Run("bench", "curve", "--arch", "mlp", "--images", "1"), "--images");
        AssertBadInput(CliHarness.Run("bench", "curve", "--arch", "mlp", "--width", "0"), "--width");
    }

    [Fact]
    public void DemoWithoutFashionMnistSaysHowToInstallIt() =>
        AssertBadInput(CliHarness.Run("demo", "--data", "fashion-mnist:/no/fashion/here"), "apt-get install dataset-fashion-mnist", "/no/fashion/here");

    [Fact]
    public void UnknownCommandIsRejected() => AssertBadInput(CliHarness.Run("fly"), "fly");
}
