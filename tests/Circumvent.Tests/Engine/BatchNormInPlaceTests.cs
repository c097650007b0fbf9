using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class BatchNormInPlaceTests
{
    [Theory]
    [InlineData(new[] { 3, 5, 7, 9 })]
    [InlineData(new[] { 1, 1, 32, 32 })]
    [InlineData(new[] { 6, 4 })]
    public void InPlaceEqualsTheEvalOpAndOverwritesItsInput(int[] shape)
    {
        int c = shape[1];
        var x = TestData.Randn(1, shape);
        var (w, b, rm) = (TestData.Randn(2, c), TestData.Randn(3, c), TestData.Randn(4, c));
        var rv = Tensor.FromArray(Enumerable.Range(0, c).Select(i => 0.4f + 0.2f * i).ToArray(), c);
        var expected = Op.BatchNormRelu(x, w, b, rm, rv, false, 1e-5f, out _).ToArray();
        var result = Op.BatchNormReluInPlace(x, w, b, rm, rv, 1e-5f);
        Assert.Same(x, result);
        Assert.Equal(expected, x.ToArray());
    }

    [Fact]
    public void InPlaceRefusesInputsThatNeedAGraph()
    {
        var x = TestData.Randn(1, 2, 3, 4, 4);
        var w = Tensor.Parameter([1f, 2f, 3f], 3);
        var e = Assert.Throws<InvalidOperationException>(() =>
            Op.BatchNormReluInPlace(x, w, Tensor.Zeros(3), Tensor.Zeros(3), Tensor.Ones(3), 1e-5f));
        Assert.Contains("need gradients", e.Message);
    }
}
