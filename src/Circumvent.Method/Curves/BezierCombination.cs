using Circumvent.Engine;

namespace Circumvent.Method.Curves;

/// <summary>
/// The fused curve node y = a·w0 + b·w1 + c·w2 for one tensor. The middle bend is differentiated;
/// the endpoints only when <c>differentiateEndpoints</c> is set (the adaptive attack against TSC trains
/// the whole curve) and they require gradients: backward adds coefficient·gy into each one's gradient. One pass forward and one backward instead of the
/// five generic ops (three scalings, two additions) and their temporaries.
/// </summary>
public static class BezierCombination
{
    public static Tensor Combine(Tensor start, Tensor middle, Tensor end, float a, float b, float c, string name = "tensor",
        bool differentiateEndpoints = false)
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

        // Fixed endpoints are not inputs of the recorded node.
        Tensor[] bends = [start, middle, end];
        float[] coefficients = [a, b, c];
        int[] trained = differentiateEndpoints ? [.. Enumerable.Range(0, 3).Where(k => k == 1 || bends[k].RequiresGrad)] : [1];
        return y.WithBackward("bezier_combination", [.. trained.Select(k => bends[k])], gy =>
        {
            ReadOnlySpan<float> dy = gy.Span;
            foreach (int k in trained)
            {
                float coefficient = coefficients[k];
                if (coefficient == 0f) continue;
                var g = bends[k].GradSpan();
                for (int i = 0; i < g.Length; i++) g[i] += coefficient * dy[i];
            }
        });
    }
}
