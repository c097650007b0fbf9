using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Curves;

/// <summary>
/// A quadratic Bézier curve in weight space (Garipov et al. 2018): three bends per tensor,
/// w(t) = (1−t)²·w0 + 2t(1−t)·w1 + t²·w2, with fixed endpoints w0 = <see cref="Start"/>,
/// w2 = <see cref="End"/> and a trainable middle bend w1 = <see cref="Middle"/>.
/// Only <see cref="TensorRole.Parameter"/> tensors lie on the curve. BN running buffers are not
/// interpolated: a curve point's buffers are re-estimated (<see cref="CurvePoint.At"/>), and curve
/// training runs BN on batch statistics. Middle carries a copy of Start's buffers only so that all
/// three bends are complete state_dicts (e.g. to checkpoint a curve).
/// </summary>
public sealed class BezierCurve
{
    /// <summary>Wraps three existing bends (not copied). They must hold the same names, roles and shapes in the same order.</summary>
    public BezierCurve(ParameterSet start, ParameterSet middle, ParameterSet end)
    {
        CheckCompatible(start, middle, "middle");
        CheckCompatible(start, end, "end");
        Start = start;
        Middle = middle;
        End = end;
    }

    public ParameterSet Start { get; }
    public ParameterSet Middle { get; }
    public ParameterSet End { get; }

    /// <summary>
    /// Whether <see cref="WeightsAt"/> also sends gradients into the endpoints (those requiring them):
    /// the adaptive attack trains the whole curve; every defence keeps the endpoints fixed.
    /// </summary>
    public bool TrainsEndpoints { get; init; }

    /// <summary>
    /// A curve between <paramref name="start"/> and <paramref name="end"/> (kept by reference) whose
    /// middle bend is a new set: parameters (w0 + w2)/2, requiring gradients; buffers copied from start.
    /// </summary>
    public static BezierCurve Initialize(ParameterSet start, ParameterSet end)
    {
        CheckCompatible(start, end, "end");
        var middle = new ParameterSet();
        foreach (var (name, w0, role) in start)
        {
            if (role == TensorRole.Buffer)
            {
                middle.Add(name, w0.Clone(), role);
                continue;
            }
            var a = w0.Span;
            var b = end[name].Span;
            var mid = new float[a.Length];
            // NOTE: 0.5·a + 0.5·b rather than (a + b)/2, which can overflow for huge weights.
            for (int i = 0; i < mid.Length; i++) mid[i] = 0.5f * a[i] + 0.5f * b[i];
            middle.Add(name, new Tensor(w0.Shape.ToArray(), mid, requiresGrad: true), role);
        }
        return new BezierCurve(start, middle, end);
    }

    /// <summary>The Bernstein coefficients ((1−t)², 2t(1−t), t²) of the three bends at <paramref name="t"/>.</summary>
    public static (double Start, double Middle, double End) Coefficients(double t)
    {
        if (!(t >= 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "A curve point needs t in [0, 1].");
        double s = 1 - t;
        return (s * s, 2 * t * s, t * t);
    }

    /// <summary>
    /// The weights at <paramref name="t"/>: every parameter is one fused node (see
    /// <see cref="BezierCombination"/>) whose gradient reaches the bends that require gradients — the
    /// middle one only, scaled by 2t(1−t), unless <see cref="TrainsEndpoints"/>.
    /// Parameter tensors are pooled (owned by the current <see cref="Engine.Memory.TensorScope"/>, if any);
    /// buffers are Start's own tensors, shared and only meaningful as placeholders (training mode reads none).
    /// At t = 0 and t = 1 the parameters equal Start / End bit for bit.
    /// </summary>
    public ParameterSet WeightsAt(double t)
    {
        var (a, b, c) = Coefficients(t);
        var weights = new ParameterSet();
        foreach (var (name, w0, role) in Start)
        {
            var tensor = role == TensorRole.Parameter
                ? BezierCombination.Combine(w0, Middle[name], End[name], (float)a, (float)b, (float)c, name, TrainsEndpoints)
                : w0;
            weights.Add(name, tensor, role);
        }
        return weights;
    }

    /// <summary>The middle bend's trainable tensors, in state_dict order.</summary>
    public IReadOnlyList<Tensor> TrainableTensors() => Middle.Parameters.Select(e => e.Tensor).ToList();

    /// <summary>Every bend's parameter tensors (start, middle, end), for training the whole curve.</summary>
    public IReadOnlyList<Tensor> AllBendTensors() =>
        [.. Start.Parameters.Select(e => e.Tensor), .. Middle.Parameters.Select(e => e.Tensor), .. End.Parameters.Select(e => e.Tensor)];

    private static void CheckCompatible(ParameterSet reference, ParameterSet other, string what)
    {
        if (reference.Count != other.Count)
            throw new ArgumentException($"Curve {what} bend has {other.Count} tensors, the start has {reference.Count}.");
        using var a = reference.GetEnumerator();
        using var b = other.GetEnumerator();
        while (a.MoveNext() && b.MoveNext())
        {
            var (x, y) = (a.Current, b.Current);
            if (x.Name != y.Name)
                throw new ArgumentException($"Curve {what} bend has tensor '{y.Name}' where the start has '{x.Name}' (same order required).");
            if (x.Role != y.Role)
                throw new ArgumentException($"Curve {what} bend tensor '{y.Name}' is a {y.Role}, in the start it is a {x.Role}.");
            if (!x.Tensor.Shape.AsSpan().SequenceEqual(y.Tensor.Shape))
                throw new ArgumentException($"Curve {what} bend tensor '{y.Name}' has shape {Shape.Format(y.Tensor.Shape)}, the start has {Shape.Format(x.Tensor.Shape)}.");
        }
    }
}
