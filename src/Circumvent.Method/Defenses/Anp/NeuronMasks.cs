using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.Anp;

/// <summary>
/// ANP's view of a network: every batch-norm channel is a neuron with a mask m ∈ [0, 1] and multiplicative noises
/// δ (on γ) and ξ (on β). The network under masks and noise is the same forward with BN weight γ·(m + δ) and bias
/// β·(1 + ξ) (ANP's NoisyBatchNorm2d), built here as a parameter set, so any architecture with BN works unchanged.
/// Mask names are "PREFIX.neuron_mask", noise names "PREFIX.neuron_noise" and "PREFIX.neuron_noise_bias".
/// </summary>
public static class NeuronMasks
{
    /// <summary>The BN layers' prefixes: every "P" with "P.running_mean" and a one-dimensional "P.weight" and "P.bias".</summary>
    public static IReadOnlyList<string> BatchNormPrefixes(ParameterSet model)
    {
        var prefixes = model.Buffers.Where(e => e.Name.EndsWith(".running_mean", StringComparison.Ordinal))
            .Select(e => e.Name[..^".running_mean".Length])
            .Where(p => model.Contains(p + ".weight") && model.Contains(p + ".bias") && model[p + ".weight"].Rank == 1)
            .ToArray();
        if (prefixes.Length == 0) throw new ArgumentException("ANP perturbs batch-norm neurons, and this network has no batch-norm layer.");
        return prefixes;
    }

    /// <summary>All masks at 1 (trainable): the network as it is.</summary>
    public static ParameterSet Ones(ParameterSet model, IReadOnlyList<string> prefixes)
    {
        var masks = new ParameterSet();
        foreach (var p in prefixes)
        {
            int channels = model[p + ".weight"].Length;
            masks.Add(p + ".neuron_mask", Tensor.Parameter(Enumerable.Repeat(1f, channels).ToArray(), channels), TensorRole.Parameter);
        }
        return masks;
    }

    /// <summary>δ and ξ for every BN layer, each uniform in [−ε, ε] and trainable (ANP's reset(rand_init=True)).</summary>
    public static ParameterSet RandomNoise(ParameterSet masks, double epsilon, Random rng)
    {
        var noise = new ParameterSet();
        foreach (var m in masks)
        {
            string prefix = m.Name[..^".neuron_mask".Length];
            foreach (var suffix in new[] { ".neuron_noise", ".neuron_noise_bias" })
            {
                var values = new float[m.Tensor.Length];
                for (int i = 0; i < values.Length; i++) values[i] = (float)((2 * rng.NextDouble() - 1) * epsilon);
                noise.Add(prefix + suffix, Tensor.Parameter(values, values.Length), TensorRole.Parameter);
            }
        }
        return noise;
    }

    /// <summary>
    /// The network under <paramref name="masks"/> and, when given, <paramref name="noise"/>: BN weights γ·(m + δ) (γ·m without
    /// noise) and biases β·(1 + ξ) (β without), differentiable in the masks and the noise; every other tensor is the model's.
    /// </summary>
    public static ParameterSet Apply(ParameterSet model, ParameterSet masks, ParameterSet? noise)
    {
        var result = new ParameterSet();
        foreach (var e in model)
        {
            var tensor = e.Tensor;
            if (e.Name.EndsWith(".weight", StringComparison.Ordinal) && masks.Contains(Prefix(e.Name, ".weight") + ".neuron_mask"))
            {
                string p = Prefix(e.Name, ".weight");
                var coefficient = noise is null ? masks[p + ".neuron_mask"] : Op.Add(masks[p + ".neuron_mask"], noise[p + ".neuron_noise"]);
                tensor = Op.Mul(e.Tensor, coefficient);
            }
            else if (noise is not null && e.Name.EndsWith(".bias", StringComparison.Ordinal) && masks.Contains(Prefix(e.Name, ".bias") + ".neuron_mask"))
                tensor = Op.Mul(e.Tensor, Op.AddScalar(noise[Prefix(e.Name, ".bias") + ".neuron_noise_bias"], 1f));
            result.Add(e.Name, tensor, e.Role);
        }
        return result;
    }

    /// <summary>
    /// A copy of the model with γ set to 0 for every neuron whose mask is at most <paramref name="threshold"/> (ANP's
    /// prune_by_threshold: β and the running statistics stay). Returns the copy and how many neurons it prunes.
    /// </summary>
    public static (ParameterSet Pruned, int Count) Prune(ParameterSet model, ParameterSet masks, double threshold)
    {
        var pruned = model.Clone();
        int count = 0;
        foreach (var m in masks)
        {
            var gamma = pruned[Prefix(m.Name, ".neuron_mask") + ".weight"].Span;
            var values = m.Tensor.Span;
            for (int i = 0; i < values.Length; i++)
                if (values[i] <= (float)threshold) // compared in float32, as torch compares a float tensor with a Python number
                {
                    gamma[i] = 0;
                    count++;
                }
        }
        return (pruned, count);
    }

    private static string Prefix(string name, string suffix) => name[..^suffix.Length];
}
