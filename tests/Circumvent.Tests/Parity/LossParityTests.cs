using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>Cross-entropy (± label smoothing), log-softmax and softmax against PyTorch (Fixtures/loss.safetensors).</summary>
public class LossParityTests
{
    private const string File = "loss.safetensors";

    [Theory]
    [InlineData("ce_mean")]
    [InlineData("ce_mean_ls0.1")]
    public void CrossEntropyMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        float smoothing = (float)fx.Case(name).GetProperty("label_smoothing").GetDouble();
        var logits = fx.F32($"{name}.logits", requiresGrad: true);

        var loss = Op.CrossEntropy(logits, fx.Labels($"{name}.targets"), smoothing);
        Assert.Equal(1, loss.Length);
        Parity.Close($"{name} loss", loss.Span, fx.F32($"{name}.loss").Span);

        loss.Backward();
        Parity.Close($"{name} dlogits", logits.Grad, fx.F32($"{name}.glogits"));
    }

    [Theory]
    [InlineData("log_softmax")]
    [InlineData("softmax")]
    public void SoftmaxFamilyMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var x = fx.F32($"{name}.x", requiresGrad: true);

        var y = name == "softmax" ? Op.Softmax(x, -1) : Op.LogSoftmax(x, -1);
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
    }
}
