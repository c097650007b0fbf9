using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>Op.BatchNorm (2d and 1d, train and eval) against F.batch_norm (Fixtures/batchnorm.safetensors).</summary>
public class BatchNormParityTests
{
    private const string File = "batchnorm.safetensors";
    public static IEnumerable<object[]> Cases => SafetensorsFixture.CaseRows(File);

    [Theory]
    [MemberData(nameof(Cases))]
    public void BatchNormMatchesPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var p = fx.Case(name);
        bool training = p.GetProperty("training").GetBoolean();
        var x = fx.F32($"{name}.x", requiresGrad: true);
        var w = fx.F32($"{name}.w", requiresGrad: true);
        var b = fx.F32($"{name}.b", requiresGrad: true);
        var runningMean = fx.F32($"{name}.running_mean");
        var runningVar = fx.F32($"{name}.running_var");
        var meanBefore = runningMean.ToArray();
        var varBefore = runningVar.ToArray();

        var y = Op.BatchNorm(x, w, b, runningMean, runningVar, training, (float)p.GetProperty("eps").GetDouble(), out var stats);
        Parity.Close($"{name} y", y, fx.F32($"{name}.y"));
        Assert.Equal(meanBefore, runningMean.ToArray()); // buffers are read-only inside the op
        Assert.Equal(varBefore, runningVar.ToArray());

        if (training)
        {
            Assert.NotNull(stats);
            Parity.Close($"{name} batch mean", stats!.Mean, fx.F32($"{name}.batch_mean").Span);
            Parity.Close($"{name} batch unbiased var", stats.UnbiasedVar, fx.F32($"{name}.batch_var_unbiased").Span);
            var shape = fx.ShapeOf($"{name}.x");
            int perChannel = shape.Aggregate(1, (a, d) => a * d) / shape[1];
            Assert.Equal(perChannel, stats.Count);
            // What a momentum-0.1 running-stat update produces from these statistics (PyTorch's rule).
            float m = (float)p.GetProperty("momentum").GetDouble();
            var newMean = meanBefore.Select((r, c) => (1 - m) * r + m * stats.Mean[c]).ToArray();
            var newVar = varBefore.Select((r, c) => (1 - m) * r + m * stats.UnbiasedVar[c]).ToArray();
            Parity.Close($"{name} running mean after", newMean, fx.F32($"{name}.running_mean_after").Span);
            Parity.Close($"{name} running var after", newVar, fx.F32($"{name}.running_var_after").Span);
        }

        y.Backward(fx.F32($"{name}.gy"));
        Parity.Close($"{name} dx", x.Grad, fx.F32($"{name}.gx"));
        Parity.Close($"{name} dweight", w.Grad, fx.F32($"{name}.gw"));
        Parity.Close($"{name} dbias", b.Grad, fx.F32($"{name}.gb"));
    }
}
