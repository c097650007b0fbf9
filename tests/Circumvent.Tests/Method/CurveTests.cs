using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Training;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Method;

/// <summary>Small problems shared by the curve, BN re-estimation and fine-tuning tests.</summary>
internal static class CurveProblems
{
    public static readonly Normalization Norm = new([0.3f], [0.3f]);

    /// <summary>cnn-small at a quarter width (8, 8, 16, 16, 32 channels) on 1×8×8 images, 3 classes.</summary>
    public static IArchitecture SmallCnn() => Architectures.Create(new ArchitectureConfig("cnn-small", 1, 8, 8, 3, 0.25));

    /// <summary>mlp with 32 hidden units on 1×8×8 images (no batch norm).</summary>
    public static IArchitecture SmallMlp() => Architectures.Create(new ArchitectureConfig("mlp", 1, 8, 8, 3, 1.0 / 16));

    /// <summary>
    /// <paramref name="count"/> noisy 8×8 images, 3 classes: a bright 3×3 block at the top-left (0),
    /// the bottom-right (1) or a bright middle row pair (2), each block jittered by one pixel.
    /// </summary>
    public static ImageDataset Blocks(int count, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * 64];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int label = i % 3;
            labels[i] = label;
            var image = pixels.AsSpan(i * 64, 64);
            for (int p = 0; p < 64; p++) image[p] = (byte)rng.Next(0, 70);
            int dy = rng.Next(-1, 2), dx = rng.Next(-1, 2);
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                {
                    bool on = label switch
                    {
                        0 => y - dy is >= 1 and <= 3 && x - dx is >= 1 and <= 3,
                        1 => y - dy is >= 4 and <= 6 && x - dx is >= 4 and <= 6,
                        _ => y - dy is >= 3 and <= 4,
                    };
                    if (on) image[y * 8 + x] = (byte)rng.Next(180, 256);
                }
        }
        return new ImageDataset(pixels, labels, 1, 8, 8, ["top-left", "bottom-right", "bar"]);
    }

    /// <summary>Mean cross-entropy over the whole dataset in eval mode (running BN statistics).</summary>
    public static double EvalLoss(IArchitecture arch, ParameterSet weights, ImageDataset data)
    {
        using var noGrad = GradMode.Disable();
        double sum = 0;
        foreach (var batch in new BatchLoader(data, Norm, BatchLoaderOptions.Evaluation(64)).Epoch(0))
        {
            using (batch)
            using (TensorScope.Open())
                sum += Op.CrossEntropy(arch.Forward(weights, batch.Images, ForwardContext.Eval()), batch.Labels).Item() * (double)batch.Count;
        }
        return sum / data.Count;
    }

    /// <summary>Eval-mode logits of the whole dataset, flattened.</summary>
    public static float[] Logits(IArchitecture arch, ParameterSet weights, ImageDataset data)
    {
        using var noGrad = GradMode.Disable();
        var all = new List<float>();
        foreach (var batch in new BatchLoader(data, Norm, BatchLoaderOptions.Evaluation(64)).Epoch(0))
        {
            using (batch)
            using (TensorScope.Open())
                all.AddRange(arch.Forward(weights, batch.Images, ForwardContext.Eval()).ToArray());
        }
        return [.. all];
    }

    public static void AssertBitIdentical(Tensor expected, Tensor actual, string name)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.Span;
        var a = actual.Span;
        for (int i = 0; i < e.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(e[i]) == BitConverter.SingleToInt32Bits(a[i]),
                $"{name}[{i}]: expected {e[i]:R}, got {a[i]:R}");
    }

    public static void AssertSetsBitIdentical(ParameterSet expected, ParameterSet actual)
    {
        Assert.Equal(expected.Names, actual.Names);
        foreach (var (name, tensor, _) in expected) AssertBitIdentical(tensor, actual[name], name);
    }
}

/// <summary>Synchronous progress sink (System.Progress would post to the thread pool).</summary>
internal sealed class CollectProgress<T> : IProgress<T>
{
    public List<T> Items { get; } = new();
    public void Report(T value) => Items.Add(value);
}

public class CurveTests
{
    private static BezierCurve RandomCurve(IArchitecture arch, int seed) =>
        BezierCurve.Initialize(arch.Initialize(new Random(seed)), arch.Initialize(new Random(seed + 1)));

    [Fact]
    public void EndpointsAreReproducedBitForBit()
    {
        var arch = CurveProblems.SmallCnn();
        var curve = RandomCurve(arch, 1);
        // A middle that is not the endpoints' mean, so the check is not helped by symmetry.
        foreach (var (_, tensor, _) in curve.Middle.Parameters) tensor.Span[0] += 3.5f;

        var at0 = curve.WeightsAt(0);
        var at1 = curve.WeightsAt(1);
        foreach (var (name, tensor, role) in curve.Start)
        {
            if (role != TensorRole.Parameter) continue;
            CurveProblems.AssertBitIdentical(tensor, at0[name], name + " at t=0");
            CurveProblems.AssertBitIdentical(curve.End[name], at1[name], name + " at t=1");
        }
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.3)]
    public void InteriorPointFollowsTheBernsteinFormula(double t)
    {
        var arch = CurveProblems.SmallCnn();
        var curve = RandomCurve(arch, 2);
        foreach (var (_, tensor, _) in curve.Middle.Parameters)
        {
            var span = tensor.Span;
            for (int i = 0; i < span.Length; i++) span[i] = MathF.Sin(i) * 0.7f;
        }
        var weights = curve.WeightsAt(t);
        double a = (1 - t) * (1 - t), b = 2 * t * (1 - t), c = t * t;
        foreach (var (name, tensor, role) in curve.Start)
        {
            if (role != TensorRole.Parameter) continue;
            var (w0, w1, w2, w) = (tensor.ToArray(), curve.Middle[name].ToArray(), curve.End[name].ToArray(), weights[name].ToArray());
            for (int i = 0; i < w.Length; i++)
            {
                double expected = a * w0[i] + b * w1[i] + c * w2[i];
                Assert.True(Math.Abs(w[i] - expected) <= 1e-6 + 1e-6 * Math.Abs(expected), $"{name}[{i}]: {w[i]} vs {expected}");
            }
        }
    }

    [Fact]
    public void MiddleStartsAtTheEndpointsMeanAndOnlyItTrains()
    {
        var arch = CurveProblems.SmallCnn();
        var start = arch.Initialize(new Random(3));
        var end = arch.Initialize(new Random(4));
        var curve = BezierCurve.Initialize(start, end);
        Assert.Same(start, curve.Start);
        Assert.Same(end, curve.End);
        foreach (var (name, tensor, role) in curve.Middle)
        {
            if (role == TensorRole.Buffer)
            {
                Assert.False(tensor.RequiresGrad);
                Assert.Equal(start[name].ToArray(), tensor.ToArray());
                continue;
            }
            Assert.True(tensor.RequiresGrad, name);
            var (w0, w2, w1) = (start[name].ToArray(), end[name].ToArray(), tensor.ToArray());
            for (int i = 0; i < w1.Length; i++) Assert.Equal((w0[i] + w2[i]) / 2, w1[i], 6);
        }
        Assert.Equal(curve.Middle.Parameters.Count(), curve.TrainableTensors().Count);
    }

    [Fact]
    public void BuffersAreStartsOwnAndNotInterpolated()
    {
        var arch = CurveProblems.SmallCnn();
        var curve = RandomCurve(arch, 5);
        curve.End["bn1.running_mean"].Span.Fill(9f);
        var weights = curve.WeightsAt(0.5);
        Assert.Same(curve.Start["bn1.running_mean"], weights["bn1.running_mean"]);
        Assert.Equal(TensorRole.Buffer, weights.RoleOf("bn1.running_var"));
    }

    [Fact]
    public void GradientReachesOnlyTheMiddleScaledBy2tOneMinusT()
    {
        const double t = 0.3;
        var (a, b, c) = BezierCurve.Coefficients(t);
        Assert.Equal(2 * t * (1 - t), b, 12);
        var start = TestData.Randn(11, 3, 4);
        var end = TestData.Randn(12, 3, 4);
        var middle = TestData.Randn(13, 3, 4);
        GradCheck.Check(inputs => BezierCombination.Combine(start, inputs[0], end, (float)a, (float)b, (float)c), [middle]);

        // And exactly: d w(t) / d w1 = 2t(1−t) elementwise; the fixed endpoints get nothing.
        middle.ZeroGrad();
        var seed = TestData.Randn(14, 3, 4);
        BezierCombination.Combine(start, middle, end, (float)a, (float)b, (float)c).Backward(seed);
        var g = middle.Grad!.ToArray();
        var gy = seed.ToArray();
        for (int i = 0; i < g.Length; i++) Assert.Equal((float)b * gy[i], g[i]);
        Assert.Null(start.Grad);
        Assert.Null(end.Grad);
    }

    [Fact]
    public void GradientFlowsThroughANetworkIntoTheMiddleBend()
    {
        var arch = CurveProblems.SmallMlp();
        var curve = RandomCurve(arch, 6);
        var data = CurveProblems.Blocks(12, 1);
        var batch = new BatchLoader(data, CurveProblems.Norm, BatchLoaderOptions.Evaluation(12)).Epoch(0).Single();
        var objective = new SupervisedObjective();
        using (TensorScope.Open())
            objective.Loss(arch, curve.WeightsAt(0.25), batch, ForwardContext.Train(null, new Random(0))).Loss.Backward();
        foreach (var tensor in curve.TrainableTensors())
        {
            Assert.NotNull(tensor.Grad);
            Assert.Contains(tensor.Grad!.ToArray(), v => v != 0f);
        }
        Assert.All(curve.Start.Parameters, e => Assert.Null(e.Tensor.Grad));
        Assert.All(curve.End.Parameters, e => Assert.Null(e.Tensor.Grad));
    }

    [Fact]
    public void L2TermAddsHalfLambdaSquaredNormAndItsGradient()
    {
        var loss = TestData.Randn(21, 5);
        var w = TestData.Randn(22, 2, 3);
        GradCheck.Check(inputs => WeightPenalty.AddL2(Op.Mean(Op.Square(inputs[0])), [inputs[1]], 0.3), [loss, w]);

        using var noGrad = GradMode.Disable();
        var baseLoss = Op.Mean(Op.Square(loss));
        double expected = baseLoss.Item() + 0.5 * 0.3 * w.ToArray().Sum(v => (double)v * v);
        Assert.Equal(expected, WeightPenalty.AddL2(baseLoss, [w], 0.3).Item(), 5);
        Assert.Same(baseLoss, WeightPenalty.AddL2(baseLoss, [w], 0));
    }

    [Fact]
    public void MismatchedBendsAreRejectedWithTheTensorName()
    {
        var arch = CurveProblems.SmallCnn();
        var start = arch.Initialize(new Random(1));
        var wider = Architectures.Create(new ArchitectureConfig("cnn-small", 1, 8, 8, 3, 0.5)).Initialize(new Random(1));
        var e = Assert.Throws<ArgumentException>(() => BezierCurve.Initialize(start, wider));
        Assert.Contains("conv1.weight", e.Message);

        var other = CurveProblems.SmallMlp().Initialize(new Random(1));
        Assert.Throws<ArgumentException>(() => BezierCurve.Initialize(start, other));
        Assert.Throws<ArgumentOutOfRangeException>(() => BezierCurve.Initialize(start, start).WeightsAt(1.5));
    }
}
