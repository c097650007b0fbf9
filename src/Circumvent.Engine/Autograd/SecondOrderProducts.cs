namespace Circumvent.Engine.Autograd;

/// <summary>
/// Products of second derivatives with a vector, from central differences of gradients (as DARTS computes its
/// architecture Hessian term; three gradient evaluations, see the remarks) — the one place in Circumvent that needs "gradients of gradients"
/// (I-BAU's hypergradient, SAPA's gradient matching) gets them here. Chosen over double backward; see the remarks.
/// <para>
/// For a scalar L(a, b) and a direction u in b's space: (∂²L/∂a∂b)·u ≈ [∇ₐL(a, b + εu) − ∇ₐL(a, b − εu)] / 2ε with
/// ε = <c>radius</c> / ‖u‖, so b moves by exactly <c>radius</c> whatever u's scale. With a = b it is the Hessian-vector
/// product H·u. The error is O(radius²) (central difference) plus float32 rounding of the two gradients divided by 2ε.
/// </para>
/// </summary>
/// <remarks>
/// Why not double backward: every op's backward here is a hand-written kernel over raw arrays (conv via im2col or
/// oneDNN, fused BN-ReLU, max-pool offsets) that records no graph, so differentiating a gradient would need a second,
/// differentiable backward for each of them. Two ordinary backward passes serve every op, fused or not.
/// <para>
/// NOTE: a plain difference of gradients of a ReLU network is dominated by its kinks: a unit that switches within the
/// step adds its whole gradient jump divided by 2ε, which double backward never sees (it holds the masks fixed). On
/// the test net that made H·u 17 times too large at radius 0.01, and no radius fixed it. So both shifted passes replay
/// the <see cref="ActivationPattern"/> recorded by a pass at the unshifted point (a third gradient evaluation): the
/// difference is then that of one smooth piece, and agrees with PyTorch's double backward to truncation, O(radius²),
/// plus float32 cancellation, O(1/radius). Radius 0.1 balances the two on the test net (≤ 5e-3 relative to the largest
/// entry, SecondOrderProductsTests); DARTS's 0.01 leaves 7e-2 where second derivatives are small (input Hessians).
/// </para>
/// </remarks>
public static class SecondOrderProducts
{
    /// <summary>How far the shifted tensors move, in their own units (see the remarks).</summary>
    public const double DefaultRadius = 0.1;

    /// <summary>
    /// (∂²L/∂a∂b)·u: calls <paramref name="gradient"/> once at b (recording the activation pattern) and once at each of
    /// b ± εu with the tensors <paramref name="shifted"/> (b) moved in place and that pattern replayed; it must return
    /// ∇ₐL (any tensors a, as arrays it owns or copies) and run the same ops each time. b is restored bit for bit.
    /// u holds one array per tensor of b, of the same lengths. Returns one array per array <paramref name="gradient"/>
    /// returns; all zeros when u = 0.
    /// </summary>
    public static float[][] Mixed(IReadOnlyList<Tensor> shifted, IReadOnlyList<float[]> direction, Func<float[][]> gradient,
        double radius = DefaultRadius) => Mixed(shifted, direction, gradient, out _, radius);

    /// <summary>As the other overload, and also returns the gradient at b.</summary>
    /// <param name="atBase">What <paramref name="gradient"/> returned at b itself (∇ₐL there), for callers that need it too.</param>
    public static float[][] Mixed(IReadOnlyList<Tensor> shifted, IReadOnlyList<float[]> direction, Func<float[][]> gradient,
        out float[][] atBase, double radius = DefaultRadius)
    {
        if (shifted.Count != direction.Count)
            throw new ArgumentException($"second-order product: {shifted.Count} tensors to shift but {direction.Count} direction arrays.");
        for (int i = 0; i < shifted.Count; i++)
            if (shifted[i].Length != direction[i].Length)
                throw new ArgumentException($"second-order product: direction {i} has {direction[i].Length} values, its tensor {Shape.Format(shifted[i].Shape)} has {shifted[i].Length}.");
        if (!(radius > 0) || double.IsInfinity(radius)) throw new ArgumentException($"second-order product: radius must be a positive number, got {radius}.");

        double norm = Norm(direction);
        if (norm == 0)
        {
            // u = 0: the product is 0; one evaluation gives the shapes (and the gradient at b).
            atBase = gradient();
            return [.. atBase.Select(g => new float[g.Length])];
        }
        double epsilon = radius / norm;
        var saved = shifted.Select(t => t.ToArray()).ToArray();
        var pattern = new ActivationPattern();
        float[][] plus, minus;
        try
        {
            using (pattern.Record()) atBase = gradient();
            Shift(shifted, saved, direction, epsilon);
            using (pattern.Replay()) plus = gradient();
            Shift(shifted, saved, direction, -epsilon);
            using (pattern.Replay()) minus = gradient();
        }
        finally
        {
            for (int i = 0; i < shifted.Count; i++) saved[i].CopyTo(shifted[i].Span);
        }
        if (plus.Length != minus.Length) throw new InvalidOperationException("second-order product: the gradient function returned different numbers of arrays.");
        var result = new float[plus.Length][];
        for (int k = 0; k < plus.Length; k++)
        {
            var p = plus[k];
            var m = minus[k];
            var r = result[k] = new float[p.Length];
            for (int i = 0; i < p.Length; i++) r[i] = (float)((p[i] - (double)m[i]) / (2 * epsilon));
        }
        return result;
    }

    /// <summary>H·u for L's Hessian in <paramref name="variables"/>: Mixed with a = b; <paramref name="gradient"/> returns ∇L in those variables.</summary>
    public static float[][] HessianVector(IReadOnlyList<Tensor> variables, IReadOnlyList<float[]> direction, Func<float[][]> gradient,
        double radius = DefaultRadius) => Mixed(variables, direction, gradient, radius);

    /// <summary>Euclidean norm of all the arrays together, in double.</summary>
    public static double Norm(IReadOnlyList<float[]> arrays)
    {
        double sum = 0;
        foreach (var a in arrays)
            foreach (float v in a) sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    // b = saved + epsilon·u, computed from the saved values so that b returns exactly after the two evaluations.
    private static void Shift(IReadOnlyList<Tensor> tensors, float[][] saved, IReadOnlyList<float[]> direction, double epsilon)
    {
        for (int i = 0; i < tensors.Count; i++)
        {
            var values = tensors[i].Span;
            var s = saved[i];
            var u = direction[i];
            for (int j = 0; j < values.Length; j++) values[j] = (float)(s[j] + epsilon * u[j]);
        }
    }
}
