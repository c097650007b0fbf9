using Circumvent.Engine.Memory;

namespace Circumvent.Engine.Autograd;

/// <summary>PyTorch's <c>torch.autograd.grad</c> for a scalar loss: its gradients as arrays, nothing left on the tensors.</summary>
public static class Gradients
{
    /// <summary>
    /// Builds <paramref name="loss"/> (a scalar; its intermediates live in a scope of their own) and returns d loss / d t
    /// for each t of <paramref name="wrt"/>, which must require gradients; zeros for a t the loss does not reach.
    /// The tensors' own gradient buffers are cleared before and released after, so nothing accumulates across calls.
    /// Other tensors of the graph that require gradients get them as with any backward: pass weights through
    /// <c>ParameterSet.Sharing(false)</c> when only an input's gradient is wanted.
    /// </summary>
    public static float[][] Of(Func<Tensor> loss, IReadOnlyList<Tensor> wrt) => Of(loss, wrt, out _);

    /// <inheritdoc cref="Of(Func{Tensor}, IReadOnlyList{Tensor})"/>
    /// <param name="value">The loss's value.</param>
    public static float[][] Of(Func<Tensor> loss, IReadOnlyList<Tensor> wrt, out float value)
    {
        foreach (var t in wrt)
        {
            if (!t.RequiresGrad) throw new ArgumentException($"gradient wanted for a tensor {Shape.Format(t.Shape)} that does not require gradients.");
            t.ReleaseGrad();
        }
        using (TensorScope.Open())
        {
            var root = loss();
            value = root.Item();
            if (root.RequiresGrad) root.Backward(releaseIntermediates: true); // else: no tensor of wrt is reached
        }
        var result = new float[wrt.Count][];
        for (int i = 0; i < wrt.Count; i++)
        {
            result[i] = wrt[i].Grad?.ToArray() ?? new float[wrt[i].Length];
            wrt[i].ReleaseGrad();
        }
        return result;
    }
}
