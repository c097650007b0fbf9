using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

/// <summary>BTI-DBF's U-Net: its transposed convolution and instance norm against their definitions, its layout and depth rule; the head of a feature extractor alone.</summary>
public class UNetTests
{
    /// <summary>
    /// ConvTranspose2d(k 3, stride 2, padding 1, output padding 1) by its definition — x[c, i, j]·W[c, o, a, b] added at
    /// (2i − 1 + a, 2j − 1 + b) of a 2H × 2W output — equals a 3×3 convolution (padding 1) of the zero-interleaved input
    /// with the flipped, transposed kernel, which is how the U-Net computes it.
    /// </summary>
    [Fact]
    public void TheZeroInterleavedConvolutionIsTheTransposedConvolution()
    {
        const int cin = 2, cout = 3, h = 3, w = 4;
        var rng = new Random(5);
        var x = Tensor.Randn(rng, 1, cin, h, w).ToArray();
        var transposed = Tensor.Randn(rng, cin, cout, 3, 3).ToArray(); // PyTorch's layout (in, out, k, k)
        var expected = new double[cout * 2 * h * 2 * w];
        for (int c = 0; c < cin; c++)
        for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
        for (int o = 0; o < cout; o++)
        for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
        {
            int p = 2 * i - 1 + a, q = 2 * j - 1 + b;
            if (p < 0 || q < 0 || p >= 2 * h || q >= 2 * w) continue;
            expected[(o * 2 * h + p) * 2 * w + q] += x[(c * h + i) * w + j] * transposed[((c * cout + o) * 3 + a) * 3 + b];
        }
        var kernel = new float[cout * cin * 9]; // (out, in, k, k), flipped
        for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
        for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            kernel[((o * cin + c) * 3 + a) * 3 + b] = transposed[((c * cout + o) * 3 + (2 - a)) * 3 + (2 - b)];
        var actual = Op.Conv2d(UNet.ZeroInterleave2x(Tensor.FromArray(x, 1, cin, h, w)), Tensor.FromArray(kernel, cout, cin, 3, 3), null, padding: 1);
        Assert.Equal([1, cout, 2 * h, 2 * w], actual.Shape.ToArray());
        Assert.Equal(expected, actual.ToArray().Select(v => (double)v), (e, a) => Math.Abs(e - a) < 1e-5);
    }

    [Fact]
    public void TheInstanceNormNormalisesEveryImageChannelByItsOwnStatistics()
    {
        var rng = new Random(2);
        var x = Tensor.Randn(rng, 2, 3, 4, 4);
        var gamma = Tensor.FromArray([0.5f, 2f, -1f], 3);
        var beta = Tensor.FromArray([0f, 1f, 3f], 3);
        var y = UNet.InstanceNorm(x, gamma, beta).ToArray();
        var v = x.ToArray();
        for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
        {
            var plane = v.AsSpan((n * 3 + c) * 16, 16).ToArray().Select(t => (double)t).ToArray();
            double mean = plane.Average(), variance = plane.Average(t => (t - mean) * (t - mean));
            for (int k = 0; k < 16; k++)
                Assert.Equal(gamma.ToArray()[c] * (plane[k] - mean) / Math.Sqrt(variance + UNet.InstanceNormEps) + beta.ToArray()[c], y[(n * 3 + c) * 16 + k], 1e-4);
        }
    }

    [Fact]
    public void TheAuthorsLayoutKeepsTheImageSizeAndTheDepthFitsTheImage()
    {
        var unet = new UNet(3, 4, 32);
        Assert.Equal([32, 3, 3, 3], unet.Tensors.Single(t => t.Name == "down0.conv1.weight").Shape);
        Assert.Equal([512, 256, 3, 3], unet.Tensors.Single(t => t.Name == "bottleneck.conv1.weight").Shape);
        Assert.Equal([512, 512, 3, 3], unet.Tensors.Single(t => t.Name == "up0.upsample.weight").Shape);
        Assert.Equal([256, 768, 3, 3], unet.Tensors.Single(t => t.Name == "up0.conv1.weight").Shape);
        Assert.Equal([3, 32, 1, 1], unet.Tensors.Single(t => t.Name == "output.weight").Shape);
        Assert.DoesNotContain(unet.Tensors, t => t.Role != TensorRole.Parameter); // instance norms keep no statistics

        var small = new UNet(1, 2, 2);
        var y = small.Forward(small.Initialize(new Random(1)), Tensor.Randn(new Random(2), 3, 1, 8, 8));
        Assert.Equal([3, 1, 8, 8], y.Shape.ToArray());
        Assert.Equal((4, 2, 2, 1, 0), (UNet.BlocksFor(32, 4), UNet.BlocksFor(8, 4), UNet.BlocksFor(28, 4), UNet.BlocksFor(6, 4), UNet.BlocksFor(3, 4)));
        Assert.Contains("multiples of 4", Assert.Throws<ArgumentException>(() => small.Forward(small.Initialize(new Random(1)), Tensor.Zeros(1, 1, 6, 6))).Message);
    }

    [Theory]
    [InlineData("cnn-small")]
    [InlineData("resnet18")]
    [InlineData("airnet")]
    [InlineData("vgg11")]
    public void TheHeadAloneOnTheFeaturesGivesTheLogits(string name)
    {
        var arch = (IFeatureExtractor)Architectures.Create(new ArchitectureConfig(name, 3, 32, 32, 10, 0.125));
        var p = arch.Initialize(new Random(4));
        var x = Tensor.Randn(new Random(6), 2, 3, 32, 32);
        var context = ForwardContext.Eval();
        Assert.Equal(arch.Forward(p, x, context).ToArray(), arch.Logits(p, arch.Features(p, x, context), context).ToArray());
    }
}
