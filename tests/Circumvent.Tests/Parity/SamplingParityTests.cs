using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>Op.GridSample and Op.ResizeBilinear against F.grid_sample / F.interpolate (Fixtures/sampling.safetensors).</summary>
public class SamplingParityTests
{
    private const string File = "sampling.safetensors";
    public static IEnumerable<object[]> GridCases => SafetensorsFixture.CaseRows(File, "grid_sample");
    public static IEnumerable<object[]> ResizeCases => SafetensorsFixture.CaseRows(File, "resize");

    [Theory]
    [MemberData(nameof(GridCases))]
    public void GridSampleMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        bool align = fx.Case(name).GetProperty("align_corners").GetBoolean();
        var x = fx.F32($"{name}.x", requiresGrad: true);
        var grid = fx.F32($"{name}.grid", requiresGrad: true);

        var y = Op.GridSample(x, grid, align);
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
        Parity.Close($"{name} dgrid", grid.Grad, fx.F32($"{name}.ggrid"));
    }

    [Theory]
    [MemberData(nameof(ResizeCases))]
    public void ResizeBilinearMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var p = fx.Case(name);
        var x = fx.F32($"{name}.x", requiresGrad: true);

        var y = Op.ResizeBilinear(x, p.GetProperty("out_h").GetInt32(), p.GetProperty("out_w").GetInt32(), p.GetProperty("align_corners").GetBoolean());
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
    }
}
