using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class LossTests
{
    [Fact]
    public void SoftmaxSumsToOneAlongEitherAxis()
    {
        var x = TestData.Randn(1, 3, 4);
        var last = Op.Softmax(x, -1).ToArray();
        for (int r = 0; r < 3; r++) Assert.Equal(1.0, last.Skip(r * 4).Take(4).Sum(), 5);
        var first = Op.Softmax(x, 0).ToArray();
        for (int c = 0; c < 4; c++) Assert.Equal(1.0, first[c] + first[4 + c] + first[8 + c], 5);
        double e = Math.Exp(x.Data[0]) / Enumerable.Range(0, 4).Sum(k => Math.Exp(x.Data[k]));
        Assert.Equal(e, last[0], 6);
    }

    [Fact]
    public void SoftmaxOverAStridedAxisMatchesLaneByLaneOnALargeTensor()
    {
        // (4, 16, 32, 32) over the channel axis: 65536 elements, parallel path, stride 1024.
        var x = TestData.Randn(2, 4, 16, 32, 32);
        var y = Op.Softmax(x, 1).ToArray();
        var ly = Op.LogSoftmax(x, 1).ToArray();
        for (int lane = 0; lane < 4 * 1024; lane += 37)
        {
            int n = lane / 1024, p = lane % 1024;
            var values = Enumerable.Range(0, 16).Select(c => (double)x.Data[(n * 16 + c) * 1024 + p]).ToArray();
            double max = values.Max(), sum = values.Sum(v => Math.Exp(v - max));
            for (int c = 0; c < 16; c++)
            {
                int j = (n * 16 + c) * 1024 + p;
                Assert.Equal(Math.Exp(values[c] - max) / sum, y[j], 1e-6);
                Assert.Equal(values[c] - max - Math.Log(sum), ly[j], 1e-5);
            }
        }
    }

    [Fact]
    public void SoftmaxIsStableForHugeLogits()
    {
        var y = Op.Softmax(Tensor.FromArray([1000f, 1001f, -1000f], 1, 3)).ToArray();
        Assert.All(y, v => Assert.False(float.IsNaN(v)));
        Assert.Equal(1.0 / (1.0 + Math.E), y[0], 6);
        var ly = Op.LogSoftmax(Tensor.FromArray([1000f, 1001f], 1, 2)).ToArray();
        Assert.Equal(-Math.Log(1 + Math.E), ly[0], 4);
    }

    [Fact]
    public void SoftmaxGradientsMatchFiniteDifferences()
    {
        GradCheck.Check(t => Op.Softmax(t[0], 0), [TestData.Randn(1, 3, 4)]);
        GradCheck.Check(t => Op.Softmax(t[0], -1), [TestData.Randn(2, 3, 4)]);
        GradCheck.Check(t => Op.Softmax(t[0], 1), [TestData.Randn(3, 2, 3, 4)]);
        GradCheck.Check(t => Op.LogSoftmax(t[0], -1), [TestData.Randn(4, 3, 4)]);
        GradCheck.Check(t => Op.LogSoftmax(t[0], 0), [TestData.Randn(5, 3, 4)]);
        GradCheck.Check(t => Op.LogSoftmax(t[0], 1), [TestData.Randn(6, 2, 3, 4)]);
    }

    [Fact]
    public void CrossEntropyOfUniformLogitsIsLogC()
    {
        var logits = Tensor.Full(0.7f, 4, 10);
        Assert.Equal(Math.Log(10), Op.CrossEntropy(logits, [0, 3, 9, 5]).Item(), 5);
        Assert.Equal(Math.Log(10), Op.CrossEntropy(logits, [0, 3, 9, 5], 0.3f).Item(), 5);
    }

    [Fact]
    public void CrossEntropyMatchesHandComputation()
    {
        var logits = Tensor.FromArray([1f, 2f, 0.5f, -1f, 0f, 3f], 2, 3);
        int[] targets = [1, 0];
        const double eps = 0.2;
        double expected = 0, expectedPlain = 0;
        for (int i = 0; i < 2; i++)
        {
            var row = logits.Data.Skip(i * 3).Take(3).Select(v => (double)v).ToArray();
            double lse = Math.Log(row.Sum(Math.Exp));
            double nll = lse - row[targets[i]];
            double smooth = row.Sum(v => lse - v) / 3;
            expected += ((1 - eps) * nll + eps * smooth) / 2;
            expectedPlain += nll / 2;
        }
        Assert.Equal(expected, Op.CrossEntropy(logits, targets, (float)eps).Item(), 5);
        Assert.Equal(expectedPlain, Op.CrossEntropy(logits, targets).Item(), 5);
    }

    [Fact]
    public void CrossEntropyEqualsMeanNegativeLogSoftmaxAtTargets()
    {
        var logits = TestData.Randn(3, 5, 7);
        int[] targets = [6, 0, 3, 3, 1];
        var ls = Op.LogSoftmax(logits).ToArray();
        double nll = -Enumerable.Range(0, 5).Average(i => ls[i * 7 + targets[i]]);
        Assert.Equal(nll, Op.CrossEntropy(logits, targets).Item(), 5);
    }

    [Fact]
    public void CrossEntropyGradientsMatchFiniteDifferences()
    {
        int[] targets = [2, 0, 4, 1];
        GradCheck.Check(t => Op.CrossEntropy(t[0], targets), [TestData.Randn(1, 4, 5)]);
        GradCheck.Check(t => Op.CrossEntropy(t[0], targets, 0.1f), [TestData.Randn(2, 4, 5)]);
        GradCheck.Check(t => Op.CrossEntropy(t[0], targets, 1f), [TestData.Randn(3, 4, 5)]);
    }

    [Fact]
    public void CrossEntropyNamesAnOutOfRangeTarget()
    {
        var ex = Assert.Throws<ArgumentException>(() => Op.CrossEntropy(TestData.Randn(1, 3, 4), [0, 4, 1]));
        Assert.Contains("target 4 at index 1", ex.Message);
        Assert.Throws<ArgumentException>(() => Op.CrossEntropy(TestData.Randn(1, 3, 4), [0, -1, 1]));
        Assert.Throws<ArgumentException>(() => Op.CrossEntropy(TestData.Randn(1, 3, 4), [0, 1]));
    }

    [Fact]
    public void L2NormalizeGivesUnitRowsAndHandlesZeroVectors()
    {
        var x = Tensor.FromArray([3f, 4f, 0f, 0f], 2, 2);
        Assert.Equal([0.6f, 0.8f, 0f, 0f], Op.L2Normalize(x).ToArray());
        var cols = Op.L2Normalize(TestData.Randn(1, 3, 5), 0).ToArray();
        for (int c = 0; c < 5; c++)
            Assert.Equal(1.0, cols[c] * cols[c] + cols[5 + c] * cols[5 + c] + cols[10 + c] * cols[10 + c], 5);
    }

    [Fact]
    public void L2NormalizeGradientsMatchFiniteDifferences()
    {
        GradCheck.Check(t => Op.L2Normalize(t[0]), [TestData.Randn(1, 3, 5)]);
        GradCheck.Check(t => Op.L2Normalize(t[0], 1), [TestData.Randn(2, 2, 3, 4)]);
        // Clamped branch: with eps above the norm the op is x / eps.
        GradCheck.Check(t => Op.L2Normalize(t[0], -1, eps: 50f), [TestData.Randn(3, 2, 4)]);
    }
}
