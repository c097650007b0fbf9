using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>
/// Copies the outputs of the probe layers a forward runs into pooled (rows, units) buffers:
/// (N, C, H, W) → (N·H·W, C), (N, C) stays (N, C). Or, when <see cref="OnProbe"/> is set, hands each
/// converted activation to it and releases the buffer right after.
/// </summary>
internal sealed class ProbeRecorder(IReadOnlySet<string> probes) : IActivationObserver, IDisposable
{
    private readonly Dictionary<string, ProbeActivation> _recorded = new(StringComparer.Ordinal);

    /// <summary>If set, called for each probe instead of keeping its activation.</summary>
    public Action<string, ProbeActivation>? OnProbe { get; init; }

    public IReadOnlyDictionary<string, ProbeActivation> Recorded => _recorded;

    public IEnumerable<string> Seen => _recorded.Keys.Concat(_streamed);

    private readonly HashSet<string> _streamed = new(StringComparer.Ordinal);

    public void Observe(string prefix, Tensor output)
    {
        if (!probes.Contains(prefix)) return;
        if (_recorded.ContainsKey(prefix) || _streamed.Contains(prefix))
            throw new InvalidOperationException($"Probe layer '{prefix}' ran twice in one forward; a probe must identify one activation.");
        var activation = ProbeActivation.FromOutput(prefix, output);
        if (OnProbe is null)
        {
            _recorded[prefix] = activation;
            return;
        }
        _streamed.Add(prefix);
        try { OnProbe(prefix, activation); }
        finally { activation.Release(); }
    }

    public void Dispose()
    {
        foreach (var a in _recorded.Values) a.Release();
        _recorded.Clear();
    }
}

/// <summary>One probe's activation as a pooled row-major (Rows, Units) buffer.</summary>
internal sealed class ProbeActivation(float[] data, int rows, int units, int[] sourceShape)
{
    public float[] Data { get; private set; } = data;
    public int Rows => rows;
    public int Units => units;
    public int[] SourceShape => sourceShape;

    public static ProbeActivation FromOutput(string prefix, Tensor output)
    {
        if (output.Rank < 2)
            throw new InvalidOperationException($"Probe '{prefix}' produced shape {Shape.Format(output.Shape)}; expected (N, C) or (N, C, H, W).");
        int n = output.Shape[0], c = output.Shape[1], spatial = output.Length / Math.Max(1, n * c);
        var rowsByUnit = BufferPool.Rent(output.Length);
        var src = output.Span;
        // (N, C, S) → (N·S, C): each sample's C×S block is transposed.
        for (int i = 0; i < n; i++)
        {
            var block = src.Slice(i * c * spatial, c * spatial);
            var dst = rowsByUnit.AsSpan(i * spatial * c, spatial * c);
            for (int ch = 0; ch < c; ch++)
                for (int s = 0; s < spatial; s++)
                    dst[s * c + ch] = block[ch * spatial + s];
        }
        return new ProbeActivation(rowsByUnit, n * spatial, c, output.Shape.ToArray());
    }

    public void Release()
    {
        if (Data.Length > 0) BufferPool.Return(Data);
        Data = [];
    }
}
