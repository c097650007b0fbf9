using Circumvent.Engine;
using Circumvent.Engine.LinearAlgebra;

namespace Circumvent.Models;

/// <summary>
/// airbench's start for airnet's first conv: the patch whitening of the training images. Every k×k patch
/// (stride 1, no padding) is a vector of d = C·k² values in the conv filter's (C, kh, kw) order; with the
/// second moment Σ = mean(p·pᵀ) over all patches (not centred: the images are normalised already) and its
/// eigenpairs (λᵢ, vᵢ) in descending order, filter i is vᵢ/√(λᵢ + ε) and filter d + i its negative. The
/// first d outputs of the conv (bias aside) then have second moment diag(λᵢ/(λᵢ + ε)) ≈ I on those images.
/// </summary>
public static class AirNetWhitening
{
    /// <summary>airbench's ε: keeps directions with almost no variance from being amplified without bound.</summary>
    public const double DefaultEps = 5e-4;

    /// <summary>Overwrites <paramref name="parameters"/>' whitening conv weight with the whitening of <paramref name="images"/>.</summary>
    /// <param name="images">(N, C, H, W) training images, normalised as the network will see them (airbench uses 5000).</param>
    public static void Initialize(ParameterSet parameters, Tensor images, double eps = DefaultEps)
    {
        var weight = parameters[AirNet.Whitening + ".weight"];
        var fitted = Fit(images, weight.Shape[2], eps);
        if (!Shape.Equal(fitted.Shape, weight.Shape))
            throw new ArgumentException(
                $"airnet whitening: images {Shape.Format(images.Shape)} give a {Shape.Format(fitted.Shape)} whitening weight, the network has {Shape.Format(weight.Shape)}.");
        fitted.Span.CopyTo(weight.Span);
    }

    /// <summary>(N, C, H, W) images → the (2·C·k², C, k, k) whitening conv weight.</summary>
    public static Tensor Fit(Tensor images, int kernel, double eps = DefaultEps)
    {
        if (images.Rank != 4 || images.Shape[2] < kernel || images.Shape[3] < kernel || images.Shape[0] < 1)
            throw new ArgumentException($"airnet whitening: images must be (N ≥ 1, C, H ≥ {kernel}, W ≥ {kernel}), got {Shape.Format(images.Shape)}.");
        int channels = images.Shape[1], d = channels * kernel * kernel;
        var (values, vectors) = SymmetricEigen.Decompose(PatchSecondMoment(images, kernel));
        var weight = Tensor.Zeros(2 * d, channels, kernel, kernel);
        var w = weight.Span;
        for (int i = 0; i < d; i++)
        {
            double scale = 1 / Math.Sqrt(Math.Max(values[i], 0) + eps);
            for (int j = 0; j < d; j++)
            {
                w[i * d + j] = (float)(vectors[i, j] * scale);
                w[(d + i) * d + j] = -(float)(vectors[i, j] * scale);
            }
        }
        return weight;
    }

    /// <summary>mean over every k×k patch of p·pᵀ, (d, d) with d = C·k², accumulated in float64.</summary>
    public static double[,] PatchSecondMoment(Tensor images, int kernel)
    {
        int n = images.Shape[0], c = images.Shape[1], h = images.Shape[2], w = images.Shape[3];
        int d = c * kernel * kernel, oh = h - kernel + 1, ow = w - kernel + 1;
        var x = images.Data;
        var sum = new double[d, d];
        var patch = new double[d];
        for (int img = 0; img < n; img++)
            for (int y = 0; y < oh; y++)
                for (int xo = 0; xo < ow; xo++)
                {
                    int j = 0;
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < kernel; ky++)
                            for (int kx = 0; kx < kernel; kx++)
                                patch[j++] = x[((img * c + ch) * h + y + ky) * w + xo + kx];
                    for (int a = 0; a < d; a++)
                        for (int b = a; b < d; b++) sum[a, b] += patch[a] * patch[b];
                }
        double count = (double)n * oh * ow;
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++) sum[b, a] = sum[a, b] /= count;
        return sum;
    }
}
