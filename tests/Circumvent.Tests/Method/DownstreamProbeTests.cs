using Circumvent.Engine;
using Circumvent.Method.Evaluation;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

/// <summary>The probes of an encoder's downstream evaluation: their shapes, that they learn, and ACC/ASR from their predictions.</summary>
public sealed class DownstreamProbeTests
{
    // Two classes of 4-d features on either side of a plane through the origin, scaled at random (the probe normalises rows).
    private static LabelledFeatures Separable(int count, int seed)
    {
        var rng = new Random(seed);
        var values = new float[count * 4];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % 2;
            float scale = (float)(0.5 + 3 * rng.NextDouble());
            for (int j = 0; j < 4; j++) values[i * 4 + j] = scale * (float)(rng.NextDouble() - 0.5);
            values[i * 4] = scale * (labels[i] == 0 ? 1f : -1f);
        }
        return new LabelledFeatures(Tensor.FromArray(values, count, 4), labels);
    }

    [Theory]
    [InlineData(ProbeKind.Mlp)]
    [InlineData(ProbeKind.Linear)]
    public void AProbeLearnsSeparableFeatures(ProbeKind kind)
    {
        var (probe, weights) = DownstreamProbe.Train(kind, Separable(64, 1), 2, new ProbeOptions { Epochs = 60, LearningRate = 1e-2, BatchSize = 16 });
        var test = Separable(40, 2);
        var predicted = DownstreamProbe.Predict(probe, weights, test.Features);
        Assert.Equal(test.Labels, predicted);
    }

    [Fact]
    public void TheMlpProbeIsTheAuthorsShape()
    {
        var probe = new FeatureProbe(ProbeKind.Mlp, 128, 43);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"], probe.Tensors.Select(t => t.Name));
        Assert.Equal([512, 128], probe.Tensors[0].Shape);
        Assert.Equal([256, 512], probe.Tensors[2].Shape);
        Assert.Equal([43, 256], probe.Tensors[4].Shape);
        // Dropout 0.5 acts in training mode only: eval-mode outputs are deterministic.
        var weights = probe.Initialize(new Random(1));
        var x = Tensor.FromArray([.. Enumerable.Range(0, 256).Select(i => (float)Math.Sin(i))], 2, 128);
        Assert.Equal(probe.Forward(weights, x, ForwardContext.Eval()).ToArray(), probe.Forward(weights, x, ForwardContext.Eval()).ToArray());
        Assert.NotEqual(probe.Forward(weights, x, ForwardContext.Train(null, new Random(1))).ToArray(), probe.Forward(weights, x, ForwardContext.Eval()).ToArray());
    }

    [Fact]
    public void BadProbeSettingsNameTheirOption()
    {
        Assert.Contains("--probe-epochs", Assert.Throws<ArgumentException>(() => new ProbeOptions { Epochs = 0 }.Validate()).Message);
        Assert.Contains("--probe-lr", Assert.Throws<ArgumentException>(() => new ProbeOptions { LearningRate = -1 }.Validate()).Message);
    }
}
