using System.Text.Json;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Tests.Cli;

public class CliHappyPathTests
{
    [Fact]
    public void TrainThenEvalJsonOnSyntheticData()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"));
        var model = Path.Combine(dir, "mlp.safetensors");

        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.25", "--data", data, "--epochs", "2",
            "--batch-size", "50", "--lr", "0.05", "--no-augment", "--seed", "7", "--out", model);
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Equal("", train.Stderr);
        Assert.Contains("epoch 2/2", train.Stdout);
        Assert.True(File.Exists(model));

        var eval = CliHarness.Run("eval", "--model", model, "--data", data, "--json");
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
        using var json = JsonDocument.Parse(eval.Stdout);
        Assert.Equal(["acc", "normalize"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("0.1307,0.3081", json.RootElement.GetProperty("normalize").GetString()); // mnist's, recorded by train
        double acc = json.RootElement.GetProperty("acc").GetDouble();
        Assert.InRange(acc, 90, 100); // the squares are trivially separable

        // The checkpoint records how it was made.
        var checkpoint = ModelCheckpoint.Load(model);
        var config = TrainingConfig.FromJson(checkpoint.TrainingJson!);
        Assert.Equal("mlp", config.Architecture);
        Assert.Equal(7, config.Seed);
        Assert.Equal(2, config.Epochs);
        Assert.False(config.Augment);
    }

    [Fact]
    public void SameSeedGivesTheSameModel()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 200, testCount: 50);
        string[] Args(string output) => ["train", "--arch", "mlp", "--width", "0.125", "--data", data, "--epochs", "1",
            "--batch-size", "40", "--seed", "3", "--out", output];
        Assert.Equal(0, CliHarness.Run(Args(Path.Combine(dir, "a.safetensors"))).ExitCode);
        Assert.Equal(0, CliHarness.Run(Args(Path.Combine(dir, "b.safetensors"))).ExitCode);
        var a = ModelCheckpoint.Load(Path.Combine(dir, "a.safetensors")).Parameters["fc1.weight"].ToArray();
        var b = ModelCheckpoint.Load(Path.Combine(dir, "b.safetensors")).Parameters["fc1.weight"].ToArray();
        Assert.Equal(a, b);
    }

    /// <summary>
    /// A relative --data is recorded absolute, so the model says where its data were and a stopped training resumes from
    /// any folder.
    /// </summary>
    [Fact]
    public void TrainRecordsARelativeDataFolderAsAnAbsoluteOne()
    {
        var dir = CliHarness.TempFolder();
        string folder = CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 100, testCount: 20);
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, folder);
        Assert.False(Path.IsPathRooted(relative));
        var model = Path.Combine(dir, "m.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", "mnist:" + relative, "--epochs", "1", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Equal("mnist:" + Path.GetFullPath(folder), TrainingConfig.FromJson(ModelCheckpoint.Load(model).TrainingJson!).Data);
    }

    [Fact]
    public void EvalPrintsPlainAccuracyWithoutJson()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 100, testCount: 50);
        var model = Path.Combine(dir, "m.safetensors");
        Assert.Equal(0, CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", data, "--epochs", "1", "--out", model).ExitCode);
        var eval = CliHarness.Run("eval", "--model", model, "--data", data);
        Assert.Equal(0, eval.ExitCode);
        Assert.Matches(@"^test accuracy \d+(\.\d+)?% \(inputs mean 0\.1307 std 0\.3081 \(recorded in the model\)\)\s*$", eval.Stdout);
    }

    [Fact]
    public void LimitTrainSmallerThanOneBatchStillTrains()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 100, testCount: 20);
        var model = Path.Combine(dir, "m.safetensors");
        var run = CliHarness.Run("train", "--arch", "cnn-small", "--width", "0.125", "--data", data, "--epochs", "1",
            "--batch-size", "64", "--limit-train", "30", "--out", model);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("30 images, 1 batches/epoch", run.Stdout);
        Assert.Equal(30, Circumvent.Training.TrainingConfig.FromJson(ModelCheckpoint.Load(model).TrainingJson!).LimitTrain);
        // cnn-small has batch norm: the running statistics must have moved away from their (0, 1) start.
        var runningMean = ModelCheckpoint.Load(model).Parameters["bn1.running_mean"].ToArray();
        Assert.Contains(runningMean, v => v != 0f);
    }
}
