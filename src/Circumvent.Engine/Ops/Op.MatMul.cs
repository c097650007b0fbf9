using Circumvent.Engine.Kernels;

namespace Circumvent.Engine;

/// <summary>Differentiable ops. Each family lives in its own file: forward, then its backward.</summary>
public static partial class Op
{
    /// <summary>(m × k) · (k × n) → (m × n).</summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        Shape.CheckRank(a, 2, "matmul left operand");
        Shape.CheckRank(b, 2, "matmul right operand");
        int m = a.Shape[0], k = a.Shape[1], n = b.Shape[1];
        if (b.Shape[0] != k)
            throw new ArgumentException($"matmul: inner dimensions differ, {Shape.Format(a.Shape)} · {Shape.Format(b.Shape)}.");

        var y = Tensor.Empty(m, n);
        Gemm.ParallelSgemm(false, false, m, n, k, 1f, a.Data, k, b.Data, n, 0f, y.Data, n);
        return y.WithBackward("matmul", [a, b], gy =>
        {
            // dA (m×k) += dY (m×n) · Bᵀ ; dB (k×n) += Aᵀ · dY
            if (a.RequiresGrad)
            {
                a.GradSpan();
                Gemm.ParallelSgemm(false, true, m, k, n, 1f, gy.Data, n, b.Data, n, 1f, a.Grad!.Data, k);
            }
            if (b.RequiresGrad)
            {
                b.GradSpan();
                Gemm.ParallelSgemm(true, false, k, n, m, 1f, a.Data, k, gy.Data, n, 1f, b.Grad!.Data, n);
            }
        });
    }

    /// <summary>
    /// PyTorch's nn.Linear: x (N × in), weight (out × in), optional bias (out) → (N × out).
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        Shape.CheckRank(x, 2, "linear input");
        Shape.CheckRank(weight, 2, "linear weight");
        int n = x.Shape[0], inF = x.Shape[1], outF = weight.Shape[0];
        if (weight.Shape[1] != inF)
            throw new ArgumentException($"linear: input has {inF} features but weight is {Shape.Format(weight.Shape)} (out, in).");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != outF))
            throw new ArgumentException($"linear: bias must have shape ({outF}), got {Shape.Format(bias.Shape)}.");

        var y = Tensor.Empty(n, outF);
        var yd = y.Data;
        if (bias is not null)
        {
            var bd = bias.Data;
            for (int i = 0; i < n; i++) Array.Copy(bd, 0, yd, i * outF, outF);
        }
        Gemm.ParallelSgemm(false, true, n, outF, inF, 1f, x.Data, inF, weight.Data, inF, bias is null ? 0f : 1f, yd, outF);

        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return y.WithBackward("linear", inputs, gy =>
        {
            if (x.RequiresGrad)
            {
                x.GradSpan(); // dX (N×in) += dY (N×out) · W (out×in)
                Gemm.ParallelSgemm(false, false, n, inF, outF, 1f, gy.Data, outF, weight.Data, inF, 1f, x.Grad!.Data, inF);
            }
            if (weight.RequiresGrad)
            {
                weight.GradSpan(); // dW (out×in) += dYᵀ · X
                Gemm.ParallelSgemm(true, false, outF, inF, n, 1f, gy.Data, outF, x.Data, inF, 1f, weight.Grad!.Data, inF);
            }
            if (bias is not null && bias.RequiresGrad)
            {
                var gb = bias.GradSpan();
                var g = gy.Data;
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < outF; o++) gb[o] += g[i * outF + o];
            }
        });
    }
}
