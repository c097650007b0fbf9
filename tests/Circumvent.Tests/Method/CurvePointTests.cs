using Circumvent.Method.Curves;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

public class CurvePointTests
{
    /// <summary>A random cnn-small whose BN buffers are already the re-estimated ones.</summary>
    private static ParameterSet Endpoint(IArchitecture arch, int seed, Circumvent.Data.ImageDataset data)
    {
        var weights = arch.Initialize(new Random(seed)).Clone();
        BatchNormReestimation.Recompute(arch, weights, data, CurveProblems.Norm, 16);
        return weights;
    }

    [Fact]
    public void EndpointsOfTheCurveReproduceTheEndpointModels()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(40, 2);
        var start = Endpoint(arch, 1, data);
        var end = Endpoint(arch, 2, data);
        var curve = BezierCurve.Initialize(start, end);
        foreach (var tensor in curve.TrainableTensors()) tensor.Span[0] -= 1f;

        var at0 = CurvePoint.At(arch, curve, 0, data, CurveProblems.Norm, 16);
        var at1 = CurvePoint.At(arch, curve, 1, data, CurveProblems.Norm, 16);

        CurveProblems.AssertSetsBitIdentical(start, at0);
        CurveProblems.AssertSetsBitIdentical(end, at1);
        Assert.Equal(CurveProblems.Logits(arch, start, data), CurveProblems.Logits(arch, at0, data));
        Assert.Equal(CurveProblems.Logits(arch, end, data), CurveProblems.Logits(arch, at1, data));
    }

    [Fact]
    public void InteriorPointIsStandaloneWithItsOwnStatistics()
    {
        var arch = CurveProblems.SmallCnn();
        var data = CurveProblems.Blocks(30, 3);
        var start = Endpoint(arch, 3, data);
        var curve = BezierCurve.Initialize(start, Endpoint(arch, 4, data));

        var point = CurvePoint.At(arch, curve, 0.4, data, CurveProblems.Norm, 16);

        var expected = CurvePoint.WeightsAt(curve, 0.4);
        BatchNormReestimation.Recompute(arch, expected, data, CurveProblems.Norm, 16);
        CurveProblems.AssertSetsBitIdentical(expected, point);
        Assert.NotEqual(start["bn2.running_var"].ToArray(), point["bn2.running_var"].ToArray());
        foreach (var (name, tensor, _) in point)
        {
            Assert.False(tensor.RequiresGrad, name);
            Assert.NotSame(start[name], tensor);
            Assert.NotSame(curve.Middle[name], tensor);
        }
        // The curve's own bends are untouched by extracting a point.
        Assert.Equal(start["bn2.running_var"].ToArray(), curve.Start["bn2.running_var"].ToArray());
    }
}
