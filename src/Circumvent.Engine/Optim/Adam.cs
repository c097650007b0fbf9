using Circumvent.Engine.Diagnostics;

namespace Circumvent.Engine.Optim;

/// <summary>
/// torch.optim.Adam and, with <c>decoupled: true</c>, torch.optim.AdamW.
/// Adam adds wd·p to the gradient (L2); AdamW first shrinks p ← p·(1 − lr·wd).
/// m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², p -= lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
/// With <c>amsgrad</c> (torch's flag; BackdoorBench's Adam for every defence) the denominator uses v̂ = max(v̂, v), the
/// largest second moment so far, so a step never grows because gradients shrank.
/// </summary>
public class Adam : OptimizerBase
{
    private readonly float[]?[] _firstMoments;
    private readonly float[]?[] _secondMoments;
    private readonly float[]?[]? _maxSecondMoments;
    private readonly bool _decoupled;

    public Adam(IReadOnlyList<Tensor> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0, bool amsgrad = false)
        : this(parameters, learningRate, beta1, beta2, eps, weightDecay, decoupled: false, amsgrad) { }

    protected Adam(IReadOnlyList<Tensor> parameters, double learningRate, double beta1, double beta2,
        double eps, double weightDecay, bool decoupled, bool amsgrad = false)
        : base(parameters, learningRate)
    {
        if (beta1 < 0 || beta1 >= 1) throw new ArgumentException($"Adam β1 must be in [0, 1), got {beta1}.");
        if (beta2 < 0 || beta2 >= 1) throw new ArgumentException($"Adam β2 must be in [0, 1), got {beta2}.");
        CheckNonNegative(eps, "Adam eps");
        CheckNonNegative(weightDecay, "Adam weight decay");
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        _decoupled = decoupled;
        _firstMoments = new float[]?[Parameters.Length];
        _secondMoments = new float[]?[Parameters.Length];
        if (amsgrad) _maxSecondMoments = new float[]?[Parameters.Length];
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }
    public bool AmsGrad => _maxSecondMoments is not null;

    protected override IEnumerable<(string Name, float[]?[] Slots)> StateSlots => _maxSecondMoments is null
        ? [("exp_avg", _firstMoments), ("exp_avg_sq", _secondMoments)]
        : [("exp_avg", _firstMoments), ("exp_avg_sq", _secondMoments), ("max_exp_avg_sq", _maxSecondMoments)];

    public override void Step()
    {
        using var profiled = OpProfiler.Region("adam step");
        // NOTE: PyTorch keeps a step count per parameter; all parameters here step together, except
        // ones whose grad is null, which PyTorch also skips without advancing their count. We keep a
        // per-optimiser count, which matches as long as a parameter never misses a step after its first.
        Steps++;
        double bc1 = 1 - Math.Pow(Beta1, Steps), bc2 = 1 - Math.Pow(Beta2, Steps);
        float stepSize = (float)(LearningRate / bc1);
        float invSqrtBc2 = (float)(1 / Math.Sqrt(bc2));
        float b1 = (float)Beta1, b2 = (float)Beta2, eps = (float)Eps, wd = (float)WeightDecay;
        float shrink = (float)(1 - LearningRate * WeightDecay);
        for (int i = 0; i < Parameters.Length; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null) continue;
            var w = p.Span;
            var g = p.Grad.Span;
            var m = StateFor(_firstMoments, i, w.Length);
            var v = StateFor(_secondMoments, i, w.Length);
            var vMax = _maxSecondMoments is null ? default : StateFor(_maxSecondMoments, i, w.Length).AsSpan();
            for (int j = 0; j < w.Length; j++)
            {
                float gj = g[j];
                if (_decoupled) w[j] *= shrink;
                else gj += wd * w[j];
                m[j] = b1 * m[j] + (1 - b1) * gj;
                v[j] = b2 * v[j] + (1 - b2) * gj * gj;
                float second = v[j];
                if (!vMax.IsEmpty) second = vMax[j] = MathF.Max(vMax[j], second);
                w[j] -= stepSize * m[j] / (MathF.Sqrt(second) * invSqrtBc2 + eps);
            }
        }
    }
}

/// <summary>torch.optim.AdamW: Adam with decoupled weight decay p ← p·(1 − lr·wd) (PyTorch default wd 0.01).</summary>
public sealed class AdamW : Adam
{
    public AdamW(IReadOnlyList<Tensor> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0.01)
        : base(parameters, learningRate, beta1, beta2, eps, weightDecay, decoupled: true) { }
}
