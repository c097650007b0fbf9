using Circumvent.Engine;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Engine;

/// <summary>Conv2d against a direct double-precision convolution on random inputs.</summary>
public class ConvReferenceTests
{
    public static IEnumerable<object[]> Cases => ConvBackends.Cross(new object[][] { [3, 1, 1], [3, 2, 1], [1, 1, 0], [5, 2, 2] });

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Conv2dMatchesDirectConvolutionForwardAndBackward(int k, int stride, int padding, string backend)
    {
        using var _ = ConvBackends.Use(backend);
        // Big enough (N = 6) that the batch is split across threads on a multi-core machine.
        int n = 6, c = 4, h = 9, w = 11, o = 5;
        var x = TestData.Randn(10, n, c, h, w);
        var weight = TestData.Randn(11, o, c, k, k);
        var bias = TestData.Randn(12, o);
        x.RequiresGrad = weight.RequiresGrad = bias.RequiresGrad = true;

        var y = Op.Conv2d(x, weight, bias, stride, padding);
        var gy = TestData.Randn(13, y.Shape);
        y.Backward(gy);

        var reference = new DirectConvolution(x, weight, bias, stride, padding);
        Assert.Equal(reference.OutShape, y.Shape);
        AssertClose(reference.Forward(), y.ToArray(), "forward");
        var (dx, dw, db) = reference.Backward(gy.ToArray());
        AssertClose(dx, x.Grad!.ToArray(), "dX");
        AssertClose(dw, weight.Grad!.ToArray(), "dW");
        AssertClose(db, bias.Grad!.ToArray(), "dBias");
    }

    internal static void AssertClose(double[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 + 1e-4 * Math.Abs(expected[i]),
                $"{what}[{i}]: expected {expected[i]:G7}, got {actual[i]:G7}");
    }
}

/// <summary>Textbook direct convolution in double precision, forward and adjoint, as the yardstick for Conv2d.</summary>
internal sealed class DirectConvolution(Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
{
    private readonly int _n = x.Shape[0], _c = x.Shape[1], _h = x.Shape[2], _w = x.Shape[3];
    private readonly int _o = weight.Shape[0], _kh = weight.Shape[2], _kw = weight.Shape[3];
    private int Ho => (_h + 2 * padding - _kh) / stride + 1;
    private int Wo => (_w + 2 * padding - _kw) / stride + 1;
    public int[] OutShape => [_n, _o, Ho, Wo];

    public double[] Forward()
    {
        var y = new double[_n * _o * Ho * Wo];
        Visit((yi, xi, wi) => y[yi] += (double)x.Data[xi] * weight.Data[wi]);
        if (bias is not null)
            for (int i = 0; i < y.Length; i++) y[i] += bias.Data[i / (Ho * Wo) % _o];
        return y;
    }

    public (double[] Dx, double[] Dw, double[] Db) Backward(float[] gy)
    {
        var dx = new double[x.Length];
        var dw = new double[weight.Length];
        var db = new double[_o];
        Visit((yi, xi, wi) =>
        {
            dx[xi] += (double)gy[yi] * weight.Data[wi];
            dw[wi] += (double)gy[yi] * x.Data[xi];
        });
        for (int i = 0; i < gy.Length; i++) db[i / (Ho * Wo) % _o] += gy[i];
        return (dx, dw, db);
    }

    // Calls term(outputIndex, inputIndex, weightIndex) for every product in the convolution sum.
    private void Visit(Action<int, int, int> term)
    {
        for (int n = 0; n < _n; n++)
            for (int o = 0; o < _o; o++)
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++)
                        for (int c = 0; c < _c; c++)
                            for (int i = 0; i < _kh; i++)
                                for (int j = 0; j < _kw; j++)
                                {
                                    int ih = oh * stride - padding + i, iw = ow * stride - padding + j;
                                    if (ih < 0 || ih >= _h || iw < 0 || iw >= _w) continue;
                                    term(((n * _o + o) * Ho + oh) * Wo + ow, ((n * _c + c) * _h + ih) * _w + iw, ((o * _c + c) * _kh + i) * _kw + j);
                                }
    }
}
