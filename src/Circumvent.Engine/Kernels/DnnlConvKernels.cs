using System.Collections.Concurrent;
using Circumvent.Engine.Native;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Convolution through oneDNN on our NCHW/OIHW arrays, same contract as <see cref="ConvKernels"/>.
/// Primitives are created once per shape (and thread budget) and reused: a training step repeats
/// the same shapes every step. oneDNN splits each call over <see cref="Parallelism.Threads"/>
/// OpenMP threads itself.
/// </summary>
public static class DnnlConvKernels
{
    private static readonly ConcurrentDictionary<DnnlConvKey, DnnlConvolution> Cache = new();

    /// <summary>y (N, O, Ho, Wo) = conv(x, w) + bias, overwriting y.</summary>
    public static void Forward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[]? bias, float[] y) =>
        For(g, batch, outChannels, bias is not null, PreferBlocked(g, outChannels)).Forward(x, w, bias, y);

    /// <summary>dX and dW for output gradient gy; a fresh gradient (all zeros) is overwritten, any other added to.</summary>
    public static void Backward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[] gy,
        float[]? dx, bool dxFresh, float[]? dw, bool dwFresh)
    {
        // Bias only changes the forward primitive; the backward ones hang off it as their hint.
        var conv = For(g, batch, outChannels, bias: false, PreferBlocked(g, outChannels));
        if (dw is not null) conv.BackwardWeights(x, gy, dw, accumulate: !dwFresh);
        if (dx is not null) conv.BackwardData(gy, w, dx, accumulate: !dxFresh);
    }

    /// <summary>
    /// Blocked (nChw16c, reordered around the call) or plain NCHW primitives for this shape.
    /// TODO: measured choice per shape (BENCHMARKS.md).
    /// </summary>
    public static bool PreferBlocked(in ConvGeometry g, int outChannels) => true;

    /// <summary>The primitives for a shape in a given layout (benchmarks compare both).</summary>
    internal static DnnlConvolution For(in ConvGeometry g, int batch, int outChannels, bool bias, bool blocked)
    {
        var runtime = DnnlRuntime.TryGet(out var reason)
            ?? throw new InvalidOperationException($"The dnnl convolution backend cannot be used: {reason}.");
        int threads = Parallelism.Threads;
        OpenMpThreads.Apply(threads);
        var key = new DnnlConvKey(batch, g, outChannels, bias, blocked, threads);
        return Cache.GetOrAdd(key, k => new DnnlConvolution(runtime, k));
    }
}
