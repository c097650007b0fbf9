using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// The diagonal empirical Fisher EWC anchors to, as SBL's code computes it (mammoth models/ewc.py, end_task):
/// Fᵢ = (1/N)·Σₙ p(yₙ|xₙ)·(∂ log p(yₙ|xₙ)/∂θᵢ)², one example at a time with its given label yₙ, the squared
/// gradient weighted by the probability the network gives that label. The network runs in evaluation mode
/// (BN uses its running statistics: a batch of one has no statistics of its own worth using).
/// </summary>
public static class DiagonalFisher
{
    /// <param name="data">The examples, in its epoch-0 order (an evaluation source: no shuffling, no augmentation).</param>
    /// <param name="maxExamples">Use only the first this many examples (null: all).</param>
    /// <param name="progress">Hears the examples done so far, every 256.</param>
    /// <returns>Fᵢ for every parameter (not the buffers), by name.</returns>
    public static ParameterSet Estimate(IArchitecture architecture, ParameterSet parameters, IBatchSource data, int? maxExamples = null,
        IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        var trained = parameters.Parameters.ToList();
        var sums = trained.Select(p => new double[p.Tensor.Length]).ToArray();
        var wasTrained = trained.Select(p => p.Tensor.RequiresGrad).ToArray();
        foreach (var p in trained) p.Tensor.RequiresGrad = true;
        int limit = maxExamples ?? int.MaxValue, seen = 0;
        var context = ForwardContext.Eval();
        try
        {
            foreach (var batch in data.Batches(0))
            {
                using (batch)
                {
                    for (int i = 0; i < batch.Count && seen < limit; i++, seen++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        using var scope = TensorScope.Open();
                        parameters.ZeroGrad();
                        var image = Op.Slice(batch.Images, 0, i, 1); // (1, C, H, W)
                        var logits = architecture.Forward(parameters, image, context);
                        var negativeLogLikelihood = Op.CrossEntropy(logits, [batch.Labels[i]]); // −log p(y|x)
                        double probability = Math.Exp(-negativeLogLikelihood.Item());
                        negativeLogLikelihood.Backward();
                        for (int k = 0; k < trained.Count; k++)
                        {
                            if (trained[k].Tensor.Grad is not { } grad) continue;
                            var g = grad.Span;
                            var sum = sums[k];
                            for (int j = 0; j < g.Length; j++) sum[j] += probability * g[j] * g[j];
                        }
                        if (seen % 256 == 255) progress?.Report(seen + 1);
                    }
                }
                if (seen >= limit) break;
            }
        }
        finally
        {
            for (int k = 0; k < trained.Count; k++)
            {
                trained[k].Tensor.ReleaseGrad();
                trained[k].Tensor.RequiresGrad = wasTrained[k];
            }
        }
        if (seen == 0) throw new ArgumentException("The diagonal Fisher needs at least one example; the data is empty.");
        var fisher = new ParameterSet();
        for (int k = 0; k < trained.Count; k++)
            fisher.Add(trained[k].Name, Tensor.FromArray(Array.ConvertAll(sums[k], s => (float)(s / seen)), trained[k].Tensor.Shape), TensorRole.Parameter);
        return fisher;
    }
}
