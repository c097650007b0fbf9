using System.Text.Json;
using Xunit;

namespace Circumvent.Tests.Cli;

public sealed class BenchCurveCliTests
{
    [Fact]
    public void CurveEpochIsTimedAndReportedAsJson()
    {
        var result = CliHarness.Run("bench", "curve", "--arch", "mlp", "--width", "0.125", "--images", "40", "--batch-size", "16", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        Assert.Equal("mlp", root.GetProperty("arch").GetString());
        Assert.Equal(40, root.GetProperty("images").GetInt32());
        double seconds = root.GetProperty("curve_epoch_seconds").GetDouble();
        Assert.True(seconds > 0, $"epoch took {seconds} s");
        // images/s is derived from the same timing: 40 images over `seconds` (rounded to 0.1 and 1e-3).
        Assert.InRange(root.GetProperty("curve_images_per_second").GetDouble(), 40 / (seconds + 0.001) - 0.1, 40 / Math.Max(seconds - 0.001, 1e-6) + 0.1);
        Assert.False(root.TryGetProperty("pytorch", out _));
    }
}
