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
    private static readonly ThreadSetting<string> AlgorithmSetting = new(() => SelectAlgorithm(Environment.GetEnvironmentVariable("CIRCUMVENT_CONV_ALGORITHM")));
    private static readonly ThreadSetting<long> BudgetSetting = new(() => SelectWorkspaceBudget(Environment.GetEnvironmentVariable("CIRCUMVENT_DNNL_WORKSPACE_MB")));

    /// <summary>The algorithm this thread's oneDNN convolutions use: <see cref="AutoAlgorithm"/> or <see cref="DirectAlgorithm"/>.</summary>
    public static string Algorithm => AlgorithmSetting.Value;

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
    public static IDisposable UseAlgorithm(string name) => AlgorithmSetting.Use(SelectAlgorithm(name));

    /// <summary>
    /// Most bytes of workspace (reordered temporaries and scratchpad) one oneDNN call may take before its
    /// batch is split into runs of fewer samples (CIRCUMVENT_DNNL_WORKSPACE_MB, default 128). The
    /// workspace stays as large as the largest call for the whole process, and grows with the batch:
    /// PreAct-ResNet18's largest training call at batch 128 takes 151 MB (Winograd's transformed tiles
    /// plus blocked copies of x and dy), its first inference layer at batch 256 217 MB. 128 MB splits
    /// only those, at no measurable cost in training speed; 64 MB saves another 40 MB of peak for 12%
    /// of the speed (BENCHMARKS.md). Each sample's output is independent, and dW adds up over the runs.
    /// </summary>
    public static long WorkspaceBudgetBytes => BudgetSetting.Value;

    /// <summary>Runs this thread's oneDNN convolutions with a workspace budget of <paramref name="bytes"/> until disposed.</summary>
    public static IDisposable UseWorkspaceBudget(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        return BudgetSetting.Use(bytes);
    }

    /// <summary>y (N, O, Ho, Wo) = conv(x, w) + bias, overwriting y (any shape; <see cref="Suits"/> says which pay).</summary>
    public static void Forward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[]? bias, float[] y)
    {
        var whole = For(g, batch, outChannels, bias is not null, blocked: true);
        foreach (var (first, count) in Runs(batch, whole.ForwardWorkspaceBytes))
            Part(whole, g, count, outChannels, bias is not null).Forward(x, w, bias, y, first);
    }

    /// <summary>dX and dW for output gradient gy; a fresh gradient (all zeros) is overwritten, any other added to.</summary>
    public static void Backward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[] gy,
        float[]? dx, bool dxFresh, float[]? dw, bool dwFresh)
    {
        // Bias only changes the forward primitive; the backward ones hang off it as their hint.
        var whole = For(g, batch, outChannels, bias: false, blocked: true);
        if (dw is not null)
        {
            bool accumulate = !dwFresh;
            foreach (var (first, count) in Runs(batch, whole.BackwardWeightsWorkspaceBytes))
            {
                Part(whole, g, count, outChannels, bias: false).BackwardWeights(x, gy, dw, accumulate, first);
                accumulate = true; // later runs add their samples' share
            }
        }
        if (dx is not null)
            foreach (var (first, count) in Runs(batch, whole.BackwardDataWorkspaceBytes))
                Part(whole, g, count, outChannels, bias: false).BackwardData(gy, w, dx, !dxFresh, first);
    }

    // The primitives for a run of `count` samples: the whole batch's own when the call is not split.
    private static DnnlConvolution Part(DnnlConvolution whole, in ConvGeometry g, int count, int outChannels, bool bias) =>
        count == whole.Batch ? whole : For(g, count, outChannels, bias, blocked: true);

    /// <summary>
    /// Splits <paramref name="batch"/> samples into the fewest runs of near-equal size (at most two
    /// distinct sizes, so at most two more primitives per shape) whose workspace, scaled from the whole
    /// batch's <paramref name="wholeBytes"/>, fits <see cref="WorkspaceBudgetBytes"/>.
    /// </summary>
    internal static IEnumerable<(int First, int Count)> Runs(int batch, long wholeBytes)
    {
        long budget = Math.Max(1, WorkspaceBudgetBytes);
        int runs = (int)Math.Clamp((wholeBytes + budget - 1) / budget, 1, batch);
        int size = batch / runs, larger = batch % runs; // the first `larger` runs take one sample more
        for (int r = 0, first = 0; r < runs; r++)
        {
            int count = size + (r < larger ? 1 : 0);
            yield return (first, count);
            first += count;
        }
    }

    /// <summary>Megabytes as text (null or blank: the default, 128) → bytes; anything but a positive whole number is refused.</summary>
    public static long SelectWorkspaceBudget(string? megabytes)
    {
        const long DefaultMb = 128;
        if (string.IsNullOrWhiteSpace(megabytes)) return DefaultMb << 20;
        return long.TryParse(megabytes.Trim(), out long mb) && mb > 0 && mb < 1L << 40
            ? mb << 20
            : throw new ArgumentException($"CIRCUMVENT_DNNL_WORKSPACE_MB='{megabytes}' is not a positive whole number of megabytes.");
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
