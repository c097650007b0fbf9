using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>NT-Xent's loss and gradients wrt both views against the authors' formula in PyTorch (Fixtures/ntxent.safetensors).</summary>
public class NtXentParityTests
{
    private const string File = "ntxent.safetensors";

    [Theory]
    [InlineData("b4_d8_t0.5")]
    [InlineData("b6_d5_t0.1")]
    [InlineData("b1_d3_t0.5")]
    public void NtXentMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        float temperature = (float)fx.Case(name).GetProperty("temperature").GetDouble();
        var a = fx.F32($"{name}.a", requiresGrad: true);
        var b = fx.F32($"{name}.b", requiresGrad: true);

        var loss = Op.NtXent(a, b, temperature);
        Assert.Equal(1, loss.Length);
        Parity.Close($"{name} loss", loss.Span, fx.F32($"{name}.loss").Span);

        loss.Backward();
        Parity.Close($"{name} da", a.Grad, fx.F32($"{name}.ga"));
        Parity.Close($"{name} db", b.Grad, fx.F32($"{name}.gb"));
    }
}
