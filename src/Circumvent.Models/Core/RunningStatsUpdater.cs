using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// PyTorch's BN buffer update, applied outside the forward: for every observed BN prefix
/// running_mean ← (1 − m)·running_mean + m·batch_mean and running_var ← (1 − m)·running_var + m·batch_var,
/// where batch_var is the UNBIASED batch variance (as torch does). Also counts num_batches_tracked.
/// </summary>
public sealed class RunningStatsUpdater : IBatchNormObserver
{
    private readonly ParameterSet _target;
    private readonly Dictionary<string, long> _batchesTracked = new(StringComparer.Ordinal);

    /// <param name="target">The parameter set whose `prefix.running_mean` / `prefix.running_var` buffers are updated in place.</param>
    /// <param name="momentum">PyTorch's BN momentum (default 0.1).</param>
    public RunningStatsUpdater(ParameterSet target, float momentum = 0.1f)
    {
        if (!(momentum >= 0f && momentum <= 1f)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "BN momentum must lie in [0, 1].");
        _target = target;
        Momentum = momentum;
    }

    public float Momentum { get; }

    /// <summary>How many batches each BN prefix has absorbed through this updater (PyTorch's num_batches_tracked increments).</summary>
    public IReadOnlyDictionary<string, long> BatchesTracked => _batchesTracked;

    /// <summary>Continues the counts of a saved run (<see cref="BatchesTracked"/> as it was saved).</summary>
    public void RestoreBatchesTracked(IReadOnlyDictionary<string, long> counts)
    {
        _batchesTracked.Clear();
        foreach (var (prefix, count) in counts) _batchesTracked[prefix] = count;
    }

    public void Observe(string prefix, BatchStatistics stats)
    {
        Blend(_target[prefix + ".running_mean"], stats.Mean, prefix + ".running_mean");
        Blend(_target[prefix + ".running_var"], stats.UnbiasedVar, prefix + ".running_var");
        _batchesTracked[prefix] = _batchesTracked.GetValueOrDefault(prefix) + 1;
    }

    private void Blend(Tensor running, float[] batch, string name)
    {
        var r = running.Span;
        if (r.Length != batch.Length)
            throw new ArgumentException($"Buffer '{name}' has {r.Length} channels but the batch statistics have {batch.Length}.");
        float keep = 1f - Momentum;
        for (int c = 0; c < r.Length; c++) r[c] = keep * r[c] + Momentum * batch[c];
    }
}
