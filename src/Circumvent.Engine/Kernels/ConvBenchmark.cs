using System.Diagnostics;
using Circumvent.Engine.Native;

namespace Circumvent.Engine.Kernels;

/// <summary>Best-of-runs seconds of one convolution's forward and backward (data + weights) passes.</summary>
public sealed record ConvTiming(double Forward, double Backward)
{
    public double Total => Forward + Backward;
}

/// <summary>
/// One shape timed three ways, in one process back to back: the im2col + GEMM kernels, oneDNN on
/// plain NCHW/OIHW, and oneDNN on its own blocked layouts with reorders from and to NCHW (the
/// reorders are part of the time). Dnnl timings are null when libdnnl is not loadable.
/// </summary>
public sealed record ConvBenchmarkResult(ConvShape Shape, ConvTiming Im2Col, ConvTiming? DnnlPlain, ConvTiming? DnnlBlocked);

/// <summary>Times convolution shapes (e.g. those <see cref="ConvBackend.RecordShapes"/> saw in a model) on each backend.</summary>
public static class ConvBenchmark
{
    /// <summary>One warm-up round (primitive creation, pools), then the best of <paramref name="runs"/> timed rounds.</summary>
    /// <param name="cpuTime">Time with the process's CPU clock (all threads, spinning included) instead of the wall clock.</param>
    public static ConvBenchmarkResult Measure(ConvShape shape, int runs, bool cpuTime = false)
    {
        if (runs < 1) throw new ArgumentOutOfRangeException(nameof(runs), runs, "at least one timed run is needed");
        var g = shape.Geometry;
        int n = shape.Batch, o = shape.OutChannels;
        var rng = new Random(1);
        var x = Values(rng, n * g.ImageSize);
        var w = Values(rng, o * g.ColumnRows);
        var bias = shape.Bias ? Values(rng, o) : null;
        var y = new float[n * o * g.ColumnCols];
        var gy = Values(rng, y.Length);
        var dx = new float[x.Length];
        var dw = new float[w.Length];

        var im2col = Time(runs, cpuTime,
            () => ConvKernels.Forward(g, n, o, x, w, bias, y),
            () => ConvKernels.Backward(g, n, o, x, w, gy, dx, dw));
        if (!ConvBackend.DnnlAvailable(out _)) return new ConvBenchmarkResult(shape, im2col, null, null);
        ConvTiming Dnnl(bool blocked)
        {
            var forward = DnnlConvKernels.For(g, n, o, shape.Bias, blocked);
            var backward = DnnlConvKernels.For(g, n, o, bias: false, blocked);
            return Time(runs, cpuTime,
                () => forward.Forward(x, w, bias, y),
                () =>
                {
                    backward.BackwardWeights(x, gy, dw, accumulate: false);
                    backward.BackwardData(gy, w, dx, accumulate: false);
                });
        }
        return new ConvBenchmarkResult(shape, im2col, Dnnl(blocked: false), Dnnl(blocked: true));
    }

    private static ConvTiming Time(int runs, bool cpuTime, Action forward, Action backward)
    {
        forward();
        backward();
        double bestForward = double.MaxValue, bestBackward = double.MaxValue;
        for (int r = 0; r < runs; r++)
        {
            bestForward = Math.Min(bestForward, Seconds(forward, cpuTime));
            bestBackward = Math.Min(bestBackward, Seconds(backward, cpuTime));
        }
        return new ConvTiming(bestForward, bestBackward);
    }

    private static double Seconds(Action action, bool cpuTime)
    {
        if (cpuTime)
        {
            double before = ProcessCpuClock.Seconds();
            action();
            return ProcessCpuClock.Seconds() - before;
        }
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static float[] Values(Random rng, int length)
    {
        var values = new float[length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }
}
