using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

public class InitializationTests
{
    private static readonly IArchitecture Resnet = Architectures.Create(new ArchitectureConfig("resnet18", 3, 32, 32, 10, 0.5));

    [Fact]
    public void WeightsAreUniformWithinOneOverSqrtFanIn()
    {
        var p = Resnet.Initialize(new Random(1));
        // conv weight (64, 32, 3, 3): fan_in 288 → bound 1/√288; linear (10, 256): bound 1/16.
        CheckUniform(p["layer2.0.conv2.weight"].ToArray(), 1 / MathF.Sqrt(64 * 9));
        CheckUniform(p["linear.weight"].ToArray(), 1 / 16f);
        CheckUniform(p["linear.bias"].ToArray(), 1 / 16f, checkMoments: false);
    }

    [Fact]
    public void BatchNormStartsAsIdentity()
    {
        var p = Resnet.Initialize(new Random(2));
        Assert.All(p["layer1.0.bn1.weight"].ToArray(), v => Assert.Equal(1f, v));
        Assert.All(p["layer1.0.bn1.bias"].ToArray(), v => Assert.Equal(0f, v));
        Assert.All(p["layer1.0.bn1.running_mean"].ToArray(), v => Assert.Equal(0f, v));
        Assert.All(p["layer1.0.bn1.running_var"].ToArray(), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void SeedDeterminesWeightsAndRolesDetermineGradients()
    {
        var a = Resnet.Initialize(new Random(7));
        var b = Resnet.Initialize(new Random(7));
        var c = Resnet.Initialize(new Random(8));
        Assert.Equal(a["conv1.weight"].ToArray(), b["conv1.weight"].ToArray());
        Assert.NotEqual(a["conv1.weight"].ToArray(), c["conv1.weight"].ToArray());
        Assert.Equal(Resnet.Tensors.Select(t => t.Name), a.Names);
        Assert.True(a["conv1.weight"].RequiresGrad);
        Assert.False(a["bn1.running_var"].RequiresGrad);
    }

    private static void CheckUniform(float[] values, float bound, bool checkMoments = true)
    {
        Assert.All(values, v => Assert.InRange(v, -bound, bound));
        // The extremes come close to the bound, so the bound is not smaller than claimed.
        Assert.True(values.Max() > 0.8f * bound && values.Min() < -0.8f * bound, $"values do not fill ±{bound}");
        if (!checkMoments) return;
        double mean = values.Average(v => (double)v);
        double variance = values.Average(v => (v - mean) * (v - mean));
        // U(−b, b): mean 0, variance b²/3.
        Assert.InRange(mean, -0.05 * bound, 0.05 * bound);
        Assert.InRange(variance, 0.9 * bound * bound / 3, 1.1 * bound * bound / 3);
    }
}
