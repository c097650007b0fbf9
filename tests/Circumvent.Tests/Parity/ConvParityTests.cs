using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>Op.Conv2d forward and input/weight/bias gradients against F.conv2d (Fixtures/conv2d.safetensors).</summary>
public class ConvParityTests
{
    private const string File = "conv2d.safetensors";
    public static IEnumerable<object[]> Cases => ConvBackends.Cross(SafetensorsFixture.CaseRows(File));

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Conv2dMatchesPyTorch(string name, string backend)
    {
        using var _ = ConvBackends.Use(backend);
        var fx = SafetensorsFixture.Load(File);
        var p = fx.Case(name);
        var x = fx.F32($"{name}.x", requiresGrad: true);
        var w = fx.F32($"{name}.w", requiresGrad: true);
        var b = p.GetProperty("bias").GetBoolean() ? fx.F32($"{name}.b", requiresGrad: true) : null;

        var y = Op.Conv2d(x, w, b, p.GetProperty("stride").GetInt32(), p.GetProperty("padding").GetInt32());
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
        Parity.Close($"{name} dw", w.Grad, fx.F32($"{name}.gw"));
        if (b is not null) Parity.Close($"{name} db", b.Grad, fx.F32($"{name}.gb"));
    }
}
