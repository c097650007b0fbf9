using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

public class SamplingTests
{
    // ---- resize -------------------------------------------------------------------------------

    [Fact]
    public void Resize2x2To4x4AlignCornersInterpolatesTheRamp()
    {
        var x = Tensor.FromArray([0f, 1f, 2f, 3f], 1, 1, 2, 2); // value = 2·row + col
        var y = Op.ResizeBilinear(x, 4, 4, alignCorners: true);
        Assert.Equal([1, 1, 4, 4], y.Shape);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(2.0 * i / 3 + j / 3.0, y.Data[i * 4 + j], 6);
    }

    [Fact]
    public void Resize2x2To4x4HalfPixelClampsAtTheBorder()
    {
        // align_corners=False: src = (d + 0.5)/2 − 0.5 → −0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the last pixel).
        var x = Tensor.FromArray([0f, 1f, 2f, 3f], 1, 1, 2, 2);
        var y = Op.ResizeBilinear(x, 4, 4, alignCorners: false);
        double[] u = [0, 0.25, 0.75, 1];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(2 * u[i] + u[j], y.Data[i * 4 + j], 6);
    }

    [Fact]
    public void ResizeDownHalvesARampAtPixelCentres()
    {
        var data = new float[2 * 16];
        for (int i = 0; i < 16; i++) { data[i] = 4 * (i / 4) + i % 4; data[16 + i] = -data[i]; }
        var y = Op.ResizeBilinear(Tensor.FromArray(data, 1, 2, 4, 4), 2, 2, alignCorners: false);
        double[] src = [0.5, 2.5];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
            {
                Assert.Equal(4 * src[i] + src[j], y.Data[i * 2 + j], 6);
                Assert.Equal(-(4 * src[i] + src[j]), y.Data[4 + i * 2 + j], 6);
            }
    }

    [Theory]
    [InlineData(3, 4, 7, 5, true)]
    [InlineData(3, 4, 7, 5, false)]
    [InlineData(6, 5, 3, 2, true)]
    [InlineData(6, 5, 3, 2, false)]
    [InlineData(4, 4, 1, 1, true)]
    public void ResizeGradientMatchesFiniteDifferences(int h, int w, int outH, int outW, bool alignCorners) =>
        GradCheck.Check(t => Op.ResizeBilinear(t[0], outH, outW, alignCorners), [TestData.Randn(1, 2, 2, h, w)]);

    // ---- grid sample --------------------------------------------------------------------------

    private static Tensor IdentityGrid(int n, int h, int w, bool alignCorners)
    {
        var g = new float[n * h * w * 2];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    int k = ((b * h + i) * w + j) * 2;
                    g[k] = alignCorners ? -1f + 2f * j / (w - 1) : -1f + (2f * j + 1) / w;
                    g[k + 1] = alignCorners ? -1f + 2f * i / (h - 1) : -1f + (2f * i + 1) / h;
                }
        return Tensor.FromArray(g, n, h, w, 2);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IdentityGridReproducesTheInput(bool alignCorners)
    {
        var x = TestData.Randn(1, 2, 3, 4, 5);
        var y = Op.GridSample(x, IdentityGrid(2, 4, 5, alignCorners), alignCorners);
        Assert.Equal(x.Shape, y.Shape);
        for (int i = 0; i < x.Length; i++) Assert.Equal(x.Data[i], y.Data[i], 5);
    }

    [Fact]
    public void GridSampleZeroPadsOutsideAndHalvesAtTheHalfPixelBorder()
    {
        var x = Tensor.FromArray([1f, 2f, 3f, 4f], 1, 1, 2, 2);
        // (−1, −1) with align_corners=False is pixel (−0.5, −0.5): a quarter of pixel (0, 0).
        // (−1, 0) is pixel (−0.5, 0.5): half of the average of the left column.
        // (5, 0) is far outside: zero.
        var grid = Tensor.FromArray([-1f, -1f, -1f, 0f, 5f, 0f], 1, 1, 3, 2);
        var y = Op.GridSample(x, grid, alignCorners: false).ToArray();
        Assert.Equal(0.25f, y[0], 6);
        Assert.Equal(0.5f * (1f + 3f) / 2f, y[1], 6);
        Assert.Equal(0f, y[2]);
        // align_corners=True puts (−1, −1) exactly on pixel (0, 0).
        Assert.Equal(1f, Op.GridSample(x, grid, alignCorners: true).Data[0], 6);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GridSampleMatchesResizeWhereTheyCoincide(bool alignCorners)
    {
        // Downsampling keeps align_corners=False resize away from its border clamp.
        var x = TestData.Randn(4, 2, 3, 6, 8);
        var resized = Op.ResizeBilinear(x, 3, 4, alignCorners);
        var sampled = Op.GridSample(x, IdentityGrid(2, 3, 4, alignCorners), alignCorners);
        for (int i = 0; i < resized.Length; i++) Assert.Equal(resized.Data[i], sampled.Data[i], 1e-5);
    }

    /// <summary>
    /// Grid (N, Ho, Wo, 2) whose first values are <paramref name="fixedCoords"/> (x, y pairs placed
    /// on the border and outside) and the rest random in [−1.4, 1.4]. Any value within 0.06 px of an
    /// integer pixel coordinate is redrawn: bilinear sampling has kinks there and central
    /// differences would straddle them.
    /// </summary>
    private static Tensor TestGrid(int seed, int n, int ho, int wo, int h, int w, bool alignCorners, float[] fixedCoords)
    {
        var rng = new Random(seed);
        float Draw() => (float)(rng.NextDouble() * 2.8 - 1.4);
        var g = new float[n * ho * wo * 2];
        for (int k = 0; k < g.Length; k++)
        {
            int size = k % 2 == 0 ? w : h;
            float v = k < fixedCoords.Length ? fixedCoords[k] : Draw();
            while (true)
            {
                float pixel = alignCorners ? (v + 1) / 2 * (size - 1) : ((v + 1) * size - 1) / 2;
                if (Math.Abs(pixel - MathF.Round(pixel)) >= 0.06f) break;
                v = Draw();
            }
            g[k] = v;
        }
        return Tensor.FromArray(g, n, ho, wo, 2);
    }

    [Fact]
    public void GridSampleGradientsMatchFiniteDifferencesWithoutAlignCorners()
    {
        // ±1 is the outer edge of the border pixels (pixel −0.5 / size − 0.5): half inside.
        var grid = TestGrid(5, 2, 3, 4, 4, 5, alignCorners: false, [-1f, 0.2f, 1f, -0.3f, 0.4f, -1f, 0.1f, 1f, -1.3f, 0.5f, 1.25f, 1.25f, 3f, 0.1f]);
        GradCheck.Check(t => Op.GridSample(t[0], t[1], alignCorners: false), [TestData.Randn(1, 2, 3, 4, 5), grid]);
    }

    [Fact]
    public void GridSampleGradientsMatchFiniteDifferencesWithAlignCorners()
    {
        var grid = TestGrid(6, 2, 3, 4, 4, 5, alignCorners: true, [-0.97f, 0.2f, 0.98f, -0.3f, 0.4f, -0.99f, -1.2f, 0.5f, 1.1f, 1.15f, -3f, 0.1f]);
        GradCheck.Check(t => Op.GridSample(t[0], t[1], alignCorners: true), [TestData.Randn(2, 2, 3, 4, 5), grid]);
    }

    [Fact]
    public void GridSampleInputGradientIsExactOnBorderPoints()
    {
        // Points exactly on ±1 with align_corners=True sit on pixel corners; the op is linear in x there.
        var grid = Tensor.FromArray([-1f, -1f, 1f, 1f, -1f, 1f, 1f, -1f, 0f, 1f, 1.5f, 0f], 1, 2, 3, 2);
        GradCheck.Check(t => Op.GridSample(t[0], grid, alignCorners: true), [TestData.Randn(3, 1, 2, 3, 4)]);
    }

    [Fact]
    public void GridSampleRejectsMismatchedGrid() =>
        Assert.Throws<ArgumentException>(() => Op.GridSample(TestData.Randn(1, 2, 1, 3, 3), TestData.Randn(2, 1, 2, 2, 3)));
}
