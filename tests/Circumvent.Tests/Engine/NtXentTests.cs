using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class NtXentTests
{
    [Fact]
    public void GradientMatchesFiniteDifferences()
    {
        var a = TestData.Randn(3, 4, 5);
        var b = TestData.Randn(4, 4, 5);
        GradCheck.Check(x => Op.NtXent(x[0], x[1], 0.5f), [a, b], h: 1e-2, atol: 1e-3, rtol: 2e-2);
    }

    [Fact]
    public void EqualsTheDefinitionOnAConstructedBatch()
    {
        // Two images whose views coincide: z1 = z2 = e0 for image 0, e1 for image 1 (already unit length).
        // Row 0's similarities /τ: to itself (dropped) 2, to image 1's views 0, 0, to its positive 2.
        var a = Tensor.FromArray([1, 0, 0, 1], 2, 2);
        var b = Tensor.FromArray([3, 0, 0, 0.5f], 2, 2); // normalised to the same unit vectors
        double expected = -Math.Log(Math.Exp(2) / (Math.Exp(2) + 2 * Math.Exp(0)));
        Assert.Equal(expected, Op.NtXent(a, b, 0.5f).Item(), 5);
    }

    [Fact]
    public void RejectsViewsOfDifferentShapesAndABadTemperature()
    {
        Assert.Throws<ArgumentException>(() => Op.NtXent(Tensor.Zeros(2, 3), Tensor.Zeros(3, 3)));
        Assert.Throws<ArgumentException>(() => Op.NtXent(Tensor.Ones(2, 3), Tensor.Ones(2, 3), 0f));
    }
}
