using System.Collections.Concurrent;
using Circumvent.Engine.Native;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Convolution through oneDNN on our NCHW/OIHW arrays, same contract as <see cref="ConvKernels"/>.
/// Primitives are created once per shape (and thread budget) and reused: a training step repeats
/// the same shapes every step. oneDNN splits each call over <see cref="Parallelism.Threads"/>
/// OpenMP threads itself.
/// Algorithm (CIRCUMVENT_CONV_ALGORITHM): "auto", the default, lets oneDNN run Winograd F(4×4, 3×3)
/// on the 3×3 stride-1 shapes it has a kernel for (about twice as fast there; BENCHMARKS.md), direct
/// elsewhere; "direct" never uses Winograd. Winograd rounds differently: results agree with the direct
/// algorithm to about 1e-4 relative, not bit for bit.
/// </summary>
public static class DnnlConvKernels
{
    public const string AutoAlgorithm = "auto", DirectAlgorithm = "direct";

    private static readonly ConcurrentDictionary<DnnlConvKey, DnnlConvolution> Cache = new();
    private static readonly Lazy<string> ProcessAlgorithm = new(() => SelectAlgorithm(Environment.GetEnvironmentVariable("CIRCUMVENT_CONV_ALGORITHM")));
    [ThreadStatic] private static string? _algorithmOverride;

    /// <summary>The algorithm this thread's oneDNN convolutions use: <see cref="AutoAlgorithm"/> or <see cref="DirectAlgorithm"/>.</summary>
    public static string Algorithm => _algorithmOverride ?? ProcessAlgorithm.Value;

    /// <summary>"" or "auto" → <see cref="AutoAlgorithm"/>; "direct" → <see cref="DirectAlgorithm"/>; anything else is refused.</summary>
    public static string SelectAlgorithm(string? name)
    {
        var key = (name ?? "").Trim().ToLowerInvariant();
        return key switch
        {
            "" or AutoAlgorithm => AutoAlgorithm,
            DirectAlgorithm => DirectAlgorithm,
            _ => throw new ArgumentException($"'{name}' is not a oneDNN convolution algorithm; expected {AutoAlgorithm} or {DirectAlgorithm}."),
        };
    }

    /// <summary>Runs this thread's oneDNN convolutions with algorithm <paramref name="name"/> until disposed.</summary>
    public static IDisposable UseAlgorithm(string name)
    {
        var previous = _algorithmOverride;
        _algorithmOverride = SelectAlgorithm(name);
        return new ThreadSettingScope(() => _algorithmOverride = previous);
    }

    /// <summary>y (N, O, Ho, Wo) = conv(x, w) + bias, overwriting y (any shape; <see cref="Suits"/> says which pay).</summary>
    public static void Forward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[]? bias, float[] y) =>
        For(g, batch, outChannels, bias is not null, blocked: true).Forward(x, w, bias, y);

    /// <summary>dX and dW for output gradient gy; a fresh gradient (all zeros) is overwritten, any other added to.</summary>
    public static void Backward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[] gy,
        float[]? dx, bool dxFresh, float[]? dw, bool dwFresh)
    {
        // Bias only changes the forward primitive; the backward ones hang off it as their hint.
        var conv = For(g, batch, outChannels, bias: false, blocked: true);
        if (dw is not null) conv.BackwardWeights(x, gy, dw, accumulate: !dwFresh);
        if (dx is not null) conv.BackwardData(gy, w, dx, accumulate: !dxFresh);
    }

    /// <summary>
    /// Whether oneDNN beats im2col on this shape (BENCHMARKS.md, "Convolution backends"): spatial
    /// kernels over at least 16 channels, in oneDNN's blocked layout with reorders around the call.
    /// On 1×1 kernels and on the 3-channel stem the reorders cost more than they save, and plain
    /// NCHW primitives only tie with im2col, so those stay on im2col.
    /// </summary>
    public static bool Suits(in ConvGeometry g) => g.Channels >= MinChannels && g.KernelH * g.KernelW > 1;

    /// <summary>Fewest input channels for which <see cref="Suits"/> sends a convolution to oneDNN.</summary>
    public const int MinChannels = 16;

    /// <summary>The primitives for a shape in a given layout (benchmarks compare both).</summary>
    internal static DnnlConvolution For(in ConvGeometry g, int batch, int outChannels, bool bias, bool blocked)
    {
        var runtime = DnnlRuntime.TryGet(out var reason)
            ?? throw new InvalidOperationException($"The dnnl convolution backend cannot be used: {reason}.");
        int threads = Parallelism.Threads;
        OpenMpThreads.Apply(threads);
        var key = new DnnlConvKey(batch, g, outChannels, bias, blocked, Winograd: Algorithm == AutoAlgorithm, threads);
        return Cache.GetOrAdd(key, k => new DnnlConvolution(runtime, k));
    }
}
