using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

/// <summary>
/// Backward with releaseIntermediates: the same gradients as a plain backward, every pooled op output
/// below the root freed by the end (so a training step's activations go back to the pool layer by
/// layer), and the root, the leaves and tensors wrapping caller arrays left alone.
/// </summary>
public class ReleaseIntermediatesTests
{
    private static (Tensor Loss, Tensor[] Intermediates) Forward(Tensor x, Tensor w1, Tensor w2)
    {
        var h = Op.Conv2d(x, w1, null, 1, 1);
        var a = Op.Relu(h);
        var c = Op.Conv2d(a, w2, null, 1, 1, residual: a);
        var loss = Op.Mean(Op.Mul(c, c));
        return (loss, [h, a, c]);
    }

    [Fact]
    public void GradientsAreUnchangedAndIntermediatesAreFreed()
    {
        var x = TestData.Randn(1, 2, 3, 6, 6);
        var (w1, w2) = (TestData.Randn(2, 4, 3, 3, 3), TestData.Randn(3, 4, 4, 3, 3));
        w1.RequiresGrad = w2.RequiresGrad = true;

        var (plainLoss, kept) = Forward(x, w1, w2);
        plainLoss.Backward();
        var (g1, g2) = (w1.Grad!.ToArray(), w2.Grad!.ToArray());
        Assert.All(kept, t => Assert.False(t.IsDisposed));
        w1.ZeroGrad();
        w2.ZeroGrad();

        using var scope = TensorScope.Open();
        var (loss, released) = Forward(x, w1, w2);
        loss.Backward(releaseIntermediates: true);
        Assert.Equal(g1, w1.Grad!.ToArray());
        Assert.Equal(g2, w2.Grad!.ToArray());
        Assert.All(released, t => Assert.True(t.IsDisposed));
        Assert.Throws<ObjectDisposedException>(() => released[0].Data);
        Assert.False(loss.IsDisposed);
        Assert.False(x.IsDisposed || w1.IsDisposed || w2.IsDisposed);
    }

    [Fact]
    public void OutputsWrappingCallerArraysAreNotReleased()
    {
        var w = Tensor.Parameter([1f, 2f, 3f], 3);
        var wrapped = Tensor.FromArray([4f, 5f, 6f], 3);
        var product = Op.Mul(w, wrapped);
        var loss = Op.Sum(product);
        loss.Backward(releaseIntermediates: true);
        Assert.Equal([4f, 5f, 6f], w.Grad!.ToArray());
        Assert.Equal([4f, 5f, 6f], wrapped.ToArray());
        Assert.True(product.IsDisposed);
    }
}
