using Circumvent.Engine;

namespace Circumvent.Method.Curves;

/// <summary>
/// loss + 0.5·λ·Σ‖w‖² as one scalar node (the curve's L2 term on w(t)): backward passes gy to the
/// loss and adds gy·λ·w into every weight's gradient. The squared norm is summed in double.
/// </summary>
public static class WeightPenalty
{
    public static Tensor AddL2(Tensor loss, IReadOnlyList<Tensor> weights, double coefficient)
    {
        if (loss.Length != 1)
            throw new ArgumentException($"The L2 term is added to a scalar loss, got shape {Shape.Format(loss.Shape)}.");
        if (!(coefficient >= 0) || double.IsInfinity(coefficient))
            throw new ArgumentOutOfRangeException(nameof(coefficient), coefficient, "The L2 coefficient must be a finite value ≥ 0.");
        if (coefficient == 0) return loss;

        var y = Tensor.Empty();
        y.Data[0] = (float)(loss.Item() + coefficient * HalfSquaredNorm(weights));

        Tensor[] inputs = [loss, .. weights];
        return y.WithBackward("add_l2", inputs, gy =>
        {
            float g = gy.Data[0];
            if (loss.RequiresGrad) loss.GradSpan()[0] += g;
            float scale = (float)(g * coefficient);
            foreach (var w in weights)
            {
                if (!w.RequiresGrad) continue;
                var dw = w.GradSpan();
                ReadOnlySpan<float> values = w.Span;
                for (int i = 0; i < dw.Length; i++) dw[i] += scale * values[i];
            }
        });
    }

    /// <summary>0.5·Σ‖w‖² in double (for reports).</summary>
    public static double HalfSquaredNorm(IEnumerable<Tensor> weights)
    {
        double squares = 0;
        foreach (var w in weights)
            foreach (var v in w.Span) squares += (double)v * v;
        return 0.5 * squares;
    }
}
