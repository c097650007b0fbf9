using System.Text.Json;
using Circumvent.Tests.Data;

namespace Circumvent.Tests.Cli;

/// <summary>`eval` scores the test split, so it reads only that: the training files may be absent (issue #20).</summary>
public class CliEvalTestSplitTests
{
    [Fact]
    public void EvalWorksOnAFolderHoldingOnlyTheTestFiles()
    {
        var dir = CliHarness.TempFolder();
        var full = CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "full"), trainCount: 100, testCount: 40);
        var model = Path.Combine(dir, "m.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", "mnist:" + full, "--epochs", "1",
            "--attack", "badnet", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);

        var testOnly = TestSplitLoadingTests.TestFilesOnly(full, dir);
        var onTestOnly = CliHarness.Run("eval", "--model", model, "--data", "mnist:" + testOnly, "--json");
        Assert.True(onTestOnly.ExitCode == 0, onTestOnly.Stderr);
        var onFull = CliHarness.Run("eval", "--model", model, "--data", "mnist:" + full, "--json");
        Assert.True(onFull.ExitCode == 0, onFull.Stderr);
        // The same 40 test images, so the same scores, ASR included.
        Assert.Equal(onFull.Stdout, onTestOnly.Stdout);
        Assert.True(JsonDocument.Parse(onTestOnly.Stdout).RootElement.TryGetProperty("asr", out _));
    }
}
