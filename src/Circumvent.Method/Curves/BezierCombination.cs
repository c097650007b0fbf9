using Circumvent.Engine;

namespace Circumvent.Method.Curves;

/// <summary>
/// The fused curve node y = a·w0 + b·w1 + c·w2 for one tensor. Only w1 (the middle bend) is
/// differentiated: backward adds b·gy into its gradient. One pass forward and one backward instead
/// of the five generic ops (three scalings, two additions) and their temporaries.
/// </summary>
public static class BezierCombination
{
    public static Tensor Combine(Tensor start, Tensor middle, Tensor end, float a, float b, float c, string name = "tensor")
    {
        Shape.CheckSame(start.Shape, middle.Shape, $"curve middle bend of '{name}'");
        Shape.CheckSame(start.Shape, end.Shape, $"curve end bend of '{name}'");
        var y = Tensor.Empty(start.Shape.ToArray());
        var output = y.Span;
        ReadOnlySpan<float> w0 = start.Span, w1 = middle.Span, w2 = end.Span;
        // NOTE: terms with a zero coefficient are skipped, not multiplied by 0, so t = 0 and t = 1
        // return the endpoint exactly (1·x = x; also 0·inf would give NaN and 0·(−0) would flip signs).
        if (a != 0f) for (int i = 0; i < output.Length; i++) output[i] = a * w0[i];
        else output.Clear();
        if (b != 0f) for (int i = 0; i < output.Length; i++) output[i] += b * w1[i];
        if (c != 0f) for (int i = 0; i < output.Length; i++) output[i] += c * w2[i];

        // The endpoints are fixed: only the middle bend is an input of the recorded node.
        return y.WithBackward("bezier_combination", [middle], gy =>
        {
            if (b == 0f) return;
            var g = middle.GradSpan();
            ReadOnlySpan<float> dy = gy.Span;
            for (int i = 0; i < g.Length; i++) g[i] += b * dy[i];
        });
    }
}
