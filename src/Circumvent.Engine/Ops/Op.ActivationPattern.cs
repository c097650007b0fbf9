using Circumvent.Engine.Autograd;

namespace Circumvent.Engine;

/// <summary>The forms ReLU and max-pool take while an <see cref="ActivationPattern"/> records or replays.</summary>
public static partial class Op
{
    // relu(x) = x · m with the 0/1 mask m = [x > 0] of the recorded pass: a constant, so the graph's own Mul carries the gradient.
    private static Tensor PatternRelu(ActivationPattern pattern, Tensor x)
    {
        var mask = pattern.Choose("relu", x.Length, () =>
        {
            var m = new float[x.Length];
            var xd = x.Span;
            for (int i = 0; i < m.Length; i++) m[i] = xd[i] > 0f ? 1f : 0f;
            return m;
        });
        return Mul(x, new Tensor(x.Shape.ToArray(), mask));
    }

    // max_pool2d as a gather at the recorded argmax (flat index into x per output; padding ≤ kernel/2 leaves every window an element).
    private static Tensor PatternMaxPool(ActivationPattern pattern, Tensor x, in Kernels.ConvGeometry g, int kernel, int stride, int padding)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], oh = g.OutHeight, ow = g.OutWidth;
        var index = pattern.Choose("max_pool2d", n * c * oh * ow, () =>
        {
            var idx = new int[n * c * oh * ow];
            var xd = x.Span;
            int o = 0;
            for (int plane = 0; plane < n * c; plane++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++, o++)
                    {
                        int best = -1;
                        float bestValue = float.NegativeInfinity;
                        for (int ki = 0; ki < kernel; ki++)
                        for (int kj = 0; kj < kernel; kj++)
                        {
                            int r = i * stride - padding + ki, s = j * stride - padding + kj;
                            if (r < 0 || r >= h || s < 0 || s >= w) continue;
                            int at = plane * h * w + r * w + s;
                            if (best < 0 || xd[at] > bestValue) { best = at; bestValue = xd[at]; } // the first maximum, as PyTorch
                        }
                        idx[o] = best;
                    }
            return idx;
        });
        var y = Tensor.Empty(n, c, oh, ow);
        var xv = x.Span;
        var yv = y.Span;
        for (int i = 0; i < index.Length; i++) yv[i] = xv[index[i]];
        return y.WithBackward("max_pool2d_pattern", [x], gy =>
        {
            var gx = x.GradSpan();
            var gv = gy.Span;
            for (int i = 0; i < index.Length; i++) gx[index[i]] += gv[i];
        });
    }
}
