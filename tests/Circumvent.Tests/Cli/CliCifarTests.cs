using System.Text.Json;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Cli;

/// <summary>The 3-channel path on the real CIFAR-10 batches; returns early (logged) when they are absent.</summary>
public class CliCifarTests
{
    [SkippableFact]
    public void TrainOnCifarSubsetThenEvalJson()
    {
        var shared = TestData.SharedDataDir();
        var cifar = shared is null ? null : Path.Combine(shared, "cifar10");
        if (cifar is null || !File.Exists(Path.Combine(cifar, "test_batch.bin")))
        {
            throw new SkipException("CIFAR-10 binary batches not found under shared/data/cifar10.");
        }
        var model = Path.Combine(CliHarness.TempFolder(), "cifar-mlp.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", "cifar10:" + cifar,
            "--epochs", "1", "--limit-train", "256", "--batch-size", "64", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("256 images", train.Stdout);

        var eval = CliHarness.Run("eval", "--model", model, "--data", "cifar10:" + cifar, "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        double acc = JsonDocument.Parse(eval.Stdout).RootElement.GetProperty("acc").GetDouble();
        Assert.InRange(acc, 0, 100);

        // A CIFAR model evaluated on 28×28 grey images is a shape mismatch, reported as bad input.
        var fashionDir = CliHarness.WriteSyntheticMnistLayout(Path.Combine(CliHarness.TempFolder(), "grey"), 20, 20);
        var mismatch = CliHarness.Run("eval", "--model", model, "--data", "mnist:" + fashionDir);
        Assert.Equal(2, mismatch.ExitCode);
        Assert.Contains("3×32×32", mismatch.Stderr);
    }
}
