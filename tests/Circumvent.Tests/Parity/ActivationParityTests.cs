using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>Activations without a closed form in .NET against PyTorch (Fixtures/activation.safetensors): GELU (erf form).</summary>
public class ActivationParityTests
{
    private const string File = "activation.safetensors";
    public static IEnumerable<object[]> Cases => SafetensorsFixture.CaseRows(File);

    [Theory]
    [MemberData(nameof(Cases))]
    public void ActivationMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var x = fx.F32($"{name}.x", requiresGrad: true);
        var y = fx.Case(name).GetProperty("kind").GetString() switch
        {
            "gelu" => Op.Gelu(x),
            var k => throw new InvalidDataException($"activation fixture case {name}: unknown kind '{k}'."),
        };
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
    }
}
