using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Clip;

/// <summary>CLIP's symmetric InfoNCE against PyTorch (Fixtures/clip_loss.safetensors) and finite differences.</summary>
public class ClipLossTests
{
    private const string File = "clip_loss.safetensors";

    [Theory]
    [InlineData("b5_d8_init")]
    [InlineData("b7_d4_max")]
    [InlineData("b3_d6_small")]
    [InlineData("b1_d3_init")]
    public void ClipLossMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var image = fx.F32($"{name}.image", requiresGrad: true);
        var text = fx.F32($"{name}.text", requiresGrad: true);
        var logScale = new Tensor([], [fx.F32($"{name}.logit_scale").Span[0]], requiresGrad: true);

        var loss = Op.ClipLoss(image, text, Op.Exp(logScale));
        Assert.Equal(1, loss.Length);
        Circumvent.Tests.Parity.Parity.Close($"{name} loss", loss.Span, fx.F32($"{name}.loss").Span);

        loss.Backward();
        Circumvent.Tests.Parity.Parity.Close($"{name} d image", image.Grad, fx.F32($"{name}.gimage"));
        Circumvent.Tests.Parity.Parity.Close($"{name} d text", text.Grad, fx.F32($"{name}.gtext"));
        Circumvent.Tests.Parity.Parity.Close($"{name} d logit_scale", logScale.Grad!.Span, fx.F32($"{name}.gscale").Span);
    }

    [Fact]
    public void ClipLossGradientsMatchFiniteDifferences()
    {
        var rng = new Random(3);
        Tensor Random(params int[] shape) => new(shape, [.. Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() * 2 - 1))], requiresGrad: true);
        GradCheck.Check(x => Op.ClipLoss(x[0], x[1], Op.Exp(x[2])), [Random(4, 5), Random(4, 5), new Tensor([], [1.2f], requiresGrad: true)], h: 1e-2);
    }

    [Fact]
    public void ClipLossIsSymmetricInItsTowers()
    {
        // Swapping image and text swaps the two cross-entropies, whose mean is the loss: the value must not change.
        var rng = new Random(5);
        float[] Values(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f)];
        var a = new Tensor([6, 3], Values(18));
        var b = new Tensor([6, 3], Values(18));
        var scale = new Tensor([], [10f]);
        Assert.Equal(Op.ClipLoss(a, b, scale).Item(), Op.ClipLoss(b, a, scale).Item(), 5);
    }

    [Fact]
    public void ClipLossRefusesMismatchedShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Op.ClipLoss(Tensor.Zeros(4, 3), Tensor.Zeros(4, 2), new Tensor([], [1f])));
        Assert.Contains("(4, 3)", e.Message);
    }
}
