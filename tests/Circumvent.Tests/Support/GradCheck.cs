using Circumvent.Engine;

namespace Circumvent.Tests.Support;

/// <summary>
/// Finite-difference gradient check. The scalar probed is L = Σ w·f(inputs) with fixed random
/// weights w, summed in double precision so the only float32 error left is the op's own.
/// Central differences with step h; each analytic gradient entry must agree within
/// atol + rtol·|numeric|.
/// </summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double h = 1e-2, double atol = 2e-3, double rtol = 2e-2, int seed = 7, int maxEntriesPerInput = 200)
    {
        foreach (var t in inputs) t.RequiresGrad = true;
        var output = f(inputs);
        var rng = new Random(seed);
        var weights = new double[output.Length];
        for (int i = 0; i < weights.Length; i++) weights[i] = rng.NextDouble() * 2 - 1;

        var seedTensor = Tensor.FromArray(weights.Select(w => (float)w).ToArray(), output.Shape.ToArray());
        foreach (var t in inputs) t.ZeroGrad();
        output.Backward(seedTensor);

        for (int which = 0; which < inputs.Length; which++)
        {
            var x = inputs[which];
            Assert.True(x.Grad is not null, $"input {which} received no gradient");
            var analytic = x.Grad!.ToArray();
            var data = x.Data;
            // Probe a deterministic subset of entries for large inputs.
            var indices = Enumerable.Range(0, x.Length).ToArray();
            if (indices.Length > maxEntriesPerInput)
                indices = indices.OrderBy(_ => rng.Next()).Take(maxEntriesPerInput).ToArray();
            foreach (var i in indices)
            {
                float original = data[i];
                data[i] = (float)(original + h);
                double plus = Loss(f, inputs, weights);
                data[i] = (float)(original - h);
                double minus = Loss(f, inputs, weights);
                data[i] = original;
                double numeric = (plus - minus) / (2 * h);
                double diff = Math.Abs(numeric - analytic[i]);
                Assert.True(diff <= atol + rtol * Math.Abs(numeric),
                    $"input {which} entry {i}: analytic {analytic[i]:G6} vs numeric {numeric:G6} (diff {diff:G3})");
            }
        }
    }

    private static double Loss(Func<Tensor[], Tensor> f, Tensor[] inputs, double[] weights)
    {
        using var _ = Circumvent.Engine.Autograd.GradMode.Disable();
        var y = f(inputs).Span;
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += weights[i] * y[i];
        return s;
    }
}
