using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class MatMulTests
{
    [Fact]
    public void MatMulGradientMatchesFiniteDifferences() =>
        GradCheck.Check(t => Op.MatMul(t[0], t[1]), [TestData.Randn(1, 5, 7), TestData.Randn(2, 7, 3)]);

    [Fact]
    public void LinearGradientMatchesFiniteDifferences() =>
        GradCheck.Check(t => Op.Linear(t[0], t[1], t[2]), [TestData.Randn(1, 4, 6), TestData.Randn(2, 3, 6), TestData.Randn(3, 3)]);

    [Fact]
    public void MatMulComputesKnownProduct()
    {
        var a = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3);
        var b = Tensor.FromArray([7, 8, 9, 10, 11, 12], 3, 2);
        Assert.Equal([58f, 64f, 139f, 154f], Op.MatMul(a, b).ToArray());
    }
}
