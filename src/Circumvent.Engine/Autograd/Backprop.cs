using Circumvent.Engine.Diagnostics;

namespace Circumvent.Engine.Autograd;

/// <summary>Reverse-mode sweep over the recorded graph.</summary>
public static class Backprop
{
    /// <summary>
    /// Seeds <paramref name="root"/>'s gradient (ones if <paramref name="seed"/> is null; root must
    /// then be a scalar) and runs every node's backward in reverse topological order. Gradients of
    /// intermediate tensors are released as soon as they have been propagated; leaves keep theirs.
    /// With <paramref name="releaseIntermediates"/>, every pooled op output below the root also returns its
    /// buffer to the pool once its own backward has run (every reader of it in the graph has run by
    /// then): a training step's activations are freed layer by layer, as PyTorch frees saved tensors,
    /// instead of all at the end of the step. For callers that read no intermediate tensor afterwards;
    /// one that does gets an ObjectDisposedException.
    /// </summary>
    public static void Run(Tensor root, Tensor? seed = null, bool releaseIntermediates = false)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward called on a tensor that does not require gradients.");
        if (seed is null && root.Length != 1)
            throw new InvalidOperationException($"Backward without a seed needs a scalar, got shape {Shape.Format(root.Shape)}.");

        var order = TopologicalOrder(root);
        var rootGrad = root.GradSpan();
        if (seed is null) rootGrad[0] += 1f;
        else
        {
            Shape.CheckSame(root.Shape, seed.Shape, "backward seed");
            var s = seed.Span;
            for (int i = 0; i < s.Length; i++) rootGrad[i] += s[i];
        }

        for (int i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            if (t.Grad is null) continue; // nothing flowed into this branch
            OpProfiler.Backward(t.Node!.Name, t.Node.Backward, t.Grad);
            t.Node = null; // the graph is single-use, as in PyTorch without retain_graph
            t.ReleaseGrad();
            if (releaseIntermediates && t.IsPooled && !ReferenceEquals(t, root)) t.Dispose();
        }
    }

    // Tensors with a producing node, inputs before outputs.
    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor tensor, bool expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (t, expanded) = stack.Pop();
            if (expanded) { order.Add(t); continue; }
            if (t.Node is null || !visited.Add(t)) continue;
            stack.Push((t, true));
            foreach (var input in t.Node.Inputs)
                if (input.RequiresGrad && input.Node is not null && !visited.Contains(input))
                    stack.Push((input, false));
        }
        return order;
    }
}
