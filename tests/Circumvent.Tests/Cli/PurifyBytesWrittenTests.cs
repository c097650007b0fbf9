using System.Globalization;
using System.Text.Json;

namespace Circumvent.Tests.Cli;

/// <summary>`purify` reports what it wrote to disk, in its last lines and in the JSON report.</summary>
public class PurifyBytesWrittenTests
{
    [Fact]
    public void PurifyReportsTheBytesItWrote()
    {
        var (dir, data, model) = PurifyCliTests.Setup();
        var output = Path.Combine(dir, "purified.safetensors");
        var report = Path.Combine(dir, "report.json");
        var run = CliHarness.Run("purify", "--model", model, "--data", data, "--defense", "tsc", "--rounds", "1", "--curve-epochs", "2",
            "--batch-size", "32", "--finetune-epochs", "1", "--clean-fraction", "0.2", "--out", output, "--report", report);
        Assert.True(run.ExitCode == 0, run.Stderr);

        long bytes;
        using (var json = JsonDocument.Parse(File.ReadAllText(report))) bytes = json.RootElement.GetProperty("bytes_written").GetInt64();
        // The model and the units' results are among them; the two curves' progress saves make up the rest.
        long kept = new FileInfo(output).Length + Directory.GetFiles(output + ".run", "*.safetensors").Sum(f => new FileInfo(f).Length);
        Assert.InRange(bytes, kept + 1, 4 * kept);
        Assert.Contains($"{(bytes / 1e6).ToString("F1", CultureInfo.CurrentCulture)} MB written", run.Stdout);
    }
}
