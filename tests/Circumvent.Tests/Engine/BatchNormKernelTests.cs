using Circumvent.Engine;
using Circumvent.Engine.Kernels;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

/// <summary>
/// The one-pass SIMD batch-norm kernels against a plain two-pass reference in double, on shapes that
/// exercise the vector loops and their scalar tails (odd planes, batch 1, one channel, (N, C) input).
/// </summary>
public class BatchNormKernelTests
{
    private const float Eps = 1e-5f;

    public static TheoryData<int[], bool, bool> Cases()
    {
        var data = new TheoryData<int[], bool, bool>();
        int[][] shapes = [[1, 3, 5, 7], [2, 1, 9, 9], [3, 4, 1, 1], [1, 1, 33, 31], [5, 6, 4, 4], [2, 3, 32, 32], [64, 5], [5, 2]];
        foreach (var shape in shapes)
            foreach (bool training in new[] { true, false })
                foreach (bool relu in new[] { true, false })
                    data.Add(shape, training, relu);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchTheDoubleReference(int[] shape, bool training, bool relu)
    {
        int c = shape[1];
        var x = TestData.Randn(shape.Sum(), shape);
        var weight = Tensor.FromArray(TestData.Randn(7, c).ToArray().Select(v => 1f + 0.5f * v).ToArray(), c);
        var bias = TestData.Randn(8, c);
        var runningMean = TestData.Randn(9, c);
        var runningVar = Tensor.FromArray(Enumerable.Range(0, c).Select(i => 0.5f + 0.3f * i).ToArray(), c);
        foreach (var t in new[] { x, weight, bias }) t.RequiresGrad = true;
        var seed = TestData.Randn(11, shape);

        var y = relu
            ? Op.BatchNormRelu(x, weight, bias, runningMean, runningVar, training, Eps, out _)
            : Op.BatchNorm(x, weight, bias, runningMean, runningVar, training, Eps, out _);
        y.Backward(seed);

        var r = Reference(x.ToArray(), shape, weight.ToArray(), bias.ToArray(), runningMean.ToArray(), runningVar.ToArray(),
            training, relu, seed.ToArray());
        AssertClose(r.Y, y.ToArray(), "y");
        AssertClose(r.Dx, x.Grad!.ToArray(), "dx");
        AssertClose(r.Dw, weight.Grad!.ToArray(), "dweight");
        AssertClose(r.Db, bias.Grad!.ToArray(), "dbias");
    }

    [Fact]
    public void InputGradientAddsToAnExistingGradient()
    {
        // The first backward writes a fresh gradient buffer, the second must add to it.
        var x = TestData.Randn(1, 3, 4, 5, 5);
        x.RequiresGrad = true;
        var (w, b) = (TestData.Randn(2, 4), TestData.Randn(3, 4));
        var seed = TestData.Randn(4, x.Shape);
        Op.BatchNormRelu(x, w, b, Tensor.Zeros(4), Tensor.Ones(4), true, Eps, out _).Backward(seed);
        var once = x.Grad!.ToArray();
        Op.BatchNormRelu(x, w, b, Tensor.Zeros(4), Tensor.Ones(4), true, Eps, out _).Backward(seed);
        Assert.Equal(once.Select(v => 2 * v), x.Grad!.ToArray());
    }

    [Theory]
    [InlineData(1000f)]
    [InlineData(-3e4f)]
    public void StatisticsStayExactFarFromZero(float offset)
    {
        // The shifted one-pass sums must not cancel when |mean| ≫ std.
        var x = TestData.Randn(3, 4, 3, 17, 5);
        foreach (ref var v in x.Span) v = offset + 0.01f * v;
        var c = x.Shape[1];
        Op.BatchNorm(x, Tensor.Ones(c), Tensor.Zeros(c), Tensor.Zeros(c), Tensor.Ones(c), true, Eps, out var stats);
        var xs = x.ToArray();
        int spatial = 17 * 5;
        for (int ch = 0; ch < c; ch++)
        {
            var values = Enumerable.Range(0, 4).SelectMany(n => xs.Skip((n * c + ch) * spatial).Take(spatial)).Select(v => (double)v).ToArray();
            double mean = values.Average(), var = values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1);
            Assert.True(Math.Abs(stats!.Mean[ch] - mean) <= 1e-7 * Math.Abs(mean), $"channel {ch}: mean {stats.Mean[ch]} vs {mean}");
            Assert.True(Math.Abs(stats.UnbiasedVar[ch] - var) <= 1e-6 * var, $"channel {ch}: variance {stats.UnbiasedVar[ch]} vs {var}");
        }
    }

    [Fact]
    public void ShiftedMomentsGiveTheTwoPassDeviations()
    {
        var run = TestData.Randn(4, 37).ToArray().Select(v => 50f + v).ToArray();
        var (sum, squares) = BatchNormKernels.ShiftedMoments(run, run[5]);
        var (mean, deviations) = BatchNormKernels.Deviations(run[5], sum, squares, run.Length);
        double expectedMean = run.Average(v => (double)v);
        Assert.Equal(expectedMean, mean, 1e-10);
        Assert.Equal(run.Sum(v => (v - expectedMean) * (v - expectedMean)), deviations, 1e-9);
    }

    private static void AssertClose(double[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1e-12, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * scale,
                $"{what}[{i}]: {actual[i]} vs reference {expected[i]} (largest |value| {scale})");
    }

    private sealed record Result(double[] Y, double[] Dx, double[] Dw, double[] Db);

    // Textbook batch norm in double: two-pass statistics, then the closed-form backward.
    private static Result Reference(float[] x, int[] shape, float[] w, float[] b, float[] rm, float[] rv,
        bool training, bool relu, float[] gy)
    {
        int n = shape[0], c = shape[1], s = x.Length / (n * c), count = n * s;
        var y = new double[x.Length];
        var dx = new double[x.Length];
        var dw = new double[c];
        var db = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            var idx = Enumerable.Range(0, n).SelectMany(i => Enumerable.Range((i * c + ch) * s, s)).ToArray();
            double mean = training ? idx.Average(i => (double)x[i]) : rm[ch];
            double var = training ? idx.Sum(i => (x[i] - mean) * (x[i] - mean)) / count : rv[ch];
            double invStd = 1 / Math.Sqrt(var + Eps);
            var xhat = idx.Select(i => (x[i] - mean) * invStd).ToArray();
            var g = new double[idx.Length];
            for (int k = 0; k < idx.Length; k++)
            {
                double pre = xhat[k] * w[ch] + b[ch];
                y[idx[k]] = relu ? Math.Max(pre, 0) : pre;
                g[k] = relu && pre <= 0 ? 0 : gy[idx[k]];
            }
            db[ch] = g.Sum();
            dw[ch] = g.Zip(xhat, (a, h) => a * h).Sum();
            for (int k = 0; k < idx.Length; k++)
                dx[idx[k]] = w[ch] * invStd * (training ? g[k] - db[ch] / count - xhat[k] * dw[ch] / count : g[k]);
        }
        return new Result(y, dx, dw, db);
    }
}

/// <summary>Batch norm splits its planes across threads above a size gate; the split must not change a bit.</summary>
[Collection(EngineThreadBudgetCollection.Name)]
public class BatchNormParallelTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SerialAndParallelRunsAgreeBitForBit(bool training)
    {
        // 8·16·24·24 = 73,728 values: far above the parallel gate.
        var serial = Run(1, training);
        var parallel = Run(2, training);
        for (int i = 0; i < serial.Length; i++) Assert.Equal(serial[i], parallel[i]);
    }

    private static float[][] Run(int threads, bool training)
    {
        int before = Parallelism.Threads;
        Parallelism.Threads = threads;
        try
        {
            int[] shape = [8, 16, 24, 24];
            var x = TestData.Randn(1, shape);
            var w = TestData.Randn(2, 16);
            var b = TestData.Randn(3, 16);
            foreach (var t in new[] { x, w, b }) t.RequiresGrad = true;
            var y = Op.BatchNormRelu(x, w, b, Tensor.Zeros(16), Tensor.Ones(16), training, 1e-5f, out var stats);
            y.Backward(TestData.Randn(4, shape));
            return [y.ToArray(), x.Grad!.ToArray(), w.Grad!.ToArray(), b.Grad!.ToArray(), stats?.UnbiasedVar ?? []];
        }
        finally
        {
            Parallelism.Threads = before;
        }
    }
}
