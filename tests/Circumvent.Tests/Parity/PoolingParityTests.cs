using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>Max / avg / adaptive / global average pooling against PyTorch (Fixtures/pooling.safetensors).</summary>
public class PoolingParityTests
{
    private const string File = "pooling.safetensors";
    public static IEnumerable<object[]> Cases => SafetensorsFixture.CaseRows(File);

    [Theory]
    [MemberData(nameof(Cases))]
    public void PoolingMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var p = fx.Case(name);
        var x = fx.F32($"{name}.x", requiresGrad: true);
        int Int(string key) => p.GetProperty(key).GetInt32();

        var y = p.GetProperty("kind").GetString() switch
        {
            "max" => Op.MaxPool2d(x, Int("kernel"), Int("stride"), Int("padding")),
            "avg" => Op.AvgPool2d(x, Int("kernel"), Int("stride"), Int("padding")),
            "adaptive" => Op.AdaptiveAvgPool2d(x, Int("out_h"), Int("out_w")),
            "global" => Op.GlobalAvgPool(x),
            var k => throw new InvalidDataException($"pooling fixture case {name}: unknown kind '{k}'."),
        };
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
    }
}
