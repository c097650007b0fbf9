using Circumvent.Engine;

namespace Circumvent.Method.Defenses.Sau;

/// <summary>
/// The losses of Shared Adversarial Unlearning (Wei et al. 2023) as BackdoorBench's sau.py computes them, from logits
/// (B, classes) and per-sample selections. Selections are 0/1 row weights rather than gathers, so a row left out
/// contributes neither value nor gradient. Clamps follow torch.clamp: the clamped value is constant (no gradient).
/// </summary>
public static class SauLosses
{
    /// <summary>Lower clamp of the probabilities in the Jensen–Shannon divergence (sau.py: softmax(…).clamp(min=1e-8)).</summary>
    public const float ProbabilityFloor = 1e-8f;

    /// <summary>Σ over selected rows i of CE(logits_i, labels_i): −Σ_i selected_i · log softmax(logits_i)[labels_i].</summary>
    public static Tensor CrossEntropySum(Tensor logits, int[] labels, bool[] selected)
    {
        int rows = logits.Dim(0), classes = logits.Dim(1);
        var weights = new float[rows * classes];
        for (int i = 0; i < rows; i++)
            if (selected[i]) weights[i * classes + labels[i]] = -1f;
        return Op.Sum(Op.Mul(Op.LogSoftmax(logits), Tensor.FromArray(weights, rows, classes)));
    }

    /// <summary>
    /// Σ over selected rows of the Jensen–Shannon divergence between softmax(a) and softmax(b), each clamped below at
    /// 1e-8: ½(p log p + q log q) − ½(p + q) log m with m = ½(p + q), summed over classes.
    /// </summary>
    public static Tensor JensenShannonSum(Tensor a, Tensor b, bool[] selected)
    {
        var p = Op.Clamp(Op.Softmax(a), min: ProbabilityFloor, max: null);
        var q = Op.Clamp(Op.Softmax(b), min: ProbabilityFloor, max: null);
        var m = Op.MulScalar(Op.Add(p, q), 0.5f);
        var own = Op.Add(Op.Mul(p, Op.Log(p)), Op.Mul(q, Op.Log(q)));
        var cross = Op.Mul(Op.Add(p, q), Op.Log(m));
        var perClass = Op.MulScalar(Op.Sub(own, cross), 0.5f);
        return Op.Sum(Op.Mul(Op.Sum(perClass, axis: 1), RowMask(selected)));
    }

    /// <summary>
    /// L_sar, the shared adversarial risk of the unlearning step, on the rows marked <paramref name="potential"/> (the
    /// reference model was fooled there): with p = softmax(perturbedLogits) and p̂ = the reference's adversarial label,
    /// pos = p[p̂] and neg = Σ_{c≠p̂} p[c],
    /// L_sar = ½[−Σ log(1e-6 + min(neg, 0.999)) − Σ log(1 + 1e-6 − max(pos, 0.001))] / <paramref name="batch"/>.
    /// Both terms are −log(1 − pos) in exact arithmetic; sau.py keeps both for their different rounding. 0 when no row is marked.
    /// </summary>
    public static Tensor SharedAdversarialRisk(Tensor perturbedLogits, int[] referenceLabels, bool[] potential, int batch)
    {
        if (!potential.Contains(true)) return Tensor.Scalar(0f);
        int rows = perturbedLogits.Dim(0), classes = perturbedLogits.Dim(1);
        var oneHot = new float[rows * classes];
        var others = new float[rows * classes];
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < classes; c++)
                (c == referenceLabels[i] ? oneHot : others)[i * classes + c] = 1f;
        var p = Op.Softmax(perturbedLogits);
        var pos = Op.Sum(Op.Mul(p, Tensor.FromArray(oneHot, rows, classes)), axis: 1);
        var neg = Op.Sum(Op.Mul(p, Tensor.FromArray(others, rows, classes)), axis: 1);
        var negTerm = Op.Log(Op.AddScalar(Op.Clamp(neg, min: null, max: 0.999f), 1e-6f));
        var posTerm = Op.Log(Op.AddScalar(Op.Neg(Op.Clamp(pos, min: 0.001f, max: null)), 1f + 1e-6f));
        var perRow = Op.Add(negTerm, posTerm);
        return Op.MulScalar(Op.Sum(Op.Mul(perRow, RowMask(potential))), -0.5f / batch);
    }

    private static Tensor RowMask(bool[] selected) => Tensor.FromArray(Array.ConvertAll(selected, s => s ? 1f : 0f), selected.Length);
}
