using Circumvent.Engine;
using Circumvent.Engine.Kernels;
using Circumvent.Tests.Support;
using System.Text.Json;
using Xunit;

namespace Circumvent.Tests.Cli;

// --profile opens the process-wide op profiler: same collection as its own tests.
[Collection(nameof(Engine.OpProfilerTests))]
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

    [Fact]
    public void ProfiledCurveEpochListsTheCurveOps()
    {
        var result = CliHarness.Run("bench", "curve", "--arch", "cnn-small", "--width", "0.125", "--images", "32", "--batch-size", "16", "--profile", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        var ops = doc.RootElement.GetProperty("profile").EnumerateArray()
            .ToDictionary(r => r.GetProperty("op").GetString()!, r => r.GetProperty("calls_per_step").GetDouble());
        // Two steps; per step one w(t) per parameter tensor, five convolutions forward and backward, one SGD step.
        Assert.Equal(5, ops["conv2d"]);
        Assert.Equal(5, ops["conv2d backward"]);
        Assert.Equal(1, ops["sgd step"]);
        Assert.True(ops["bezier_combination"] >= 1);
    }

    [Fact]
    public void ProfiledBenchListsTrainingAndInferenceOps()
    {
        var result = CliHarness.Run("bench", "--arch", "mlp", "--width", "0.125", "--steps", "2", "--batch-size", "8", "--infer-batch-size", "8", "--profile", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        var train = doc.RootElement.GetProperty("train").EnumerateArray().Select(r => r.GetProperty("op").GetString()).ToList();
        var infer = doc.RootElement.GetProperty("inference").EnumerateArray().Select(r => r.GetProperty("op").GetString()).ToList();
        Assert.Contains("linear backward", train);
        Assert.Contains("sgd step", train);
        Assert.Contains("linear", infer);
        Assert.DoesNotContain(infer, op => op!.EndsWith(" backward", StringComparison.Ordinal));
    }

    // cnn-small ×0.125 on 3×32×32: 3×3 pad-1 convs 3→4, 4→4 at 32×32, 4→8, 8→8 at 16×16, 8→16 at 8×8.
    // Multiply-adds per image O·C·9·Ho·Wo: 110,592 + 147,456 + 73,728 + 147,456 + 73,728 = 552,960;
    // ×2 FLOPs, ×3 passes (forward, backward-data, backward-weights) = 3,317,760.
    [Fact]
    public void BenchReportsConvolutionWorkAndTheSgemmPeakItIsMeasuredAgainst()
    {
        var result = CliHarness.Run("bench", "--arch", "cnn-small", "--width", "0.125", "--steps", "1", "--batch-size", "4", "--infer-batch-size", "4", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        var root = doc.RootElement;
        Assert.Equal(0.0033, root.GetProperty("conv_gflop_per_train_image").GetDouble(), 4);
        double trainRate = root.GetProperty("train_images_per_second").GetDouble();
        // Both figures are printed rounded (GFLOP/s to 0.1), so they agree to within that rounding, not to an integer:
        // rounding each to whole numbers failed when the product fell just below x.5 and the printed value on it.
        double expected = 3_317_760e-9 * trainRate, printed = root.GetProperty("train_gflops").GetDouble();
        Assert.True(Math.Abs(expected - printed) <= 0.1, $"train_gflops {printed}, expected {expected:F3} from the printed rate");
        Assert.True(root.GetProperty("sgemm_peak_gflops").GetDouble() > 0);
    }

    [Fact]
    public void RecordCallsCountsRepeatedShapesRecordShapesDoesNot()
    {
        var x = TestData.Randn(1, 1, 2, 6, 6);
        var w = TestData.Randn(2, 3, 2, 3, 3);
        Assert.Equal(3, ConvBackend.RecordCalls(() => { for (int i = 0; i < 3; i++) Op.Conv2d(x, w, null, 1, 1); }).Count);
        Assert.Single(ConvBackend.RecordShapes(() => { for (int i = 0; i < 3; i++) Op.Conv2d(x, w, null, 1, 1); }));
    }
}
