using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A network built around another one under a prefix ("f." of SimCLR, "visual." of CLIP) runs the inner network on its
/// tensors under their own names and relays what the inner forward reports back under the outer names.
/// </summary>
internal static class PrefixedViews
{
    /// <summary>The entries under <paramref name="prefix"/>, renamed without it (the same tensors, so gradients reach them).</summary>
    public static ParameterSet Strip(ParameterSet parameters, string prefix)
    {
        var view = new ParameterSet();
        foreach (var e in parameters)
            if (e.Name.StartsWith(prefix, StringComparison.Ordinal)) view.Add(e.Name[prefix.Length..], e.Tensor, e.Role);
        return view;
    }

    /// <summary>A context whose BN statistics and activations are reported as <paramref name="prefix"/> + the inner name.</summary>
    public static ForwardContext Context(ForwardContext context, string prefix) => new()
    {
        Training = context.Training,
        Rng = context.Rng,
        BatchNormObserver = context.BatchNormObserver is { } bn ? new PrefixedBatchNormObserver(bn, prefix) : null,
        ActivationObserver = context.ActivationObserver is { } a ? new PrefixedActivationObserver(a, prefix) : null,
    };

    private sealed class PrefixedBatchNormObserver(IBatchNormObserver inner, string outer) : IBatchNormObserver
    {
        public void Observe(string prefix, BatchStatistics stats) => inner.Observe(outer + prefix, stats);
    }

    private sealed class PrefixedActivationObserver(IActivationObserver inner, string outer) : IActivationObserver
    {
        public void Observe(string name, Tensor activation) => inner.Observe(outer + name, activation);
    }
}
