using Circumvent.Engine.Native;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// Which implementation runs Op.Conv2d: oneDNN (libdnnl.so.2, when loadable) or the managed im2col +
/// GEMM kernels, which always exist. Chosen once per process from CIRCUMVENT_CONV: auto (the default:
/// oneDNN for the shapes where it wins, <see cref="DnnlConvKernels.Suits"/>, im2col for the rest and
/// everywhere when libdnnl is missing), dnnl (every shape) or im2col. <see cref="Use"/> overrides it
/// for the calling thread (tests run each conv test on both).
/// </summary>
public static class ConvBackend
{
    public const string Auto = "auto", Dnnl = "dnnl", Im2Col = "im2col";

    private static readonly ThreadSetting<string> Setting = new(() => Select(Environment.GetEnvironmentVariable("CIRCUMVENT_CONV")));
    [ThreadStatic] private static List<ConvShape>? _recording;

    /// <summary>The backend convolutions on this thread use: <see cref="Auto"/> (libdnnl loaded), <see cref="Dnnl"/> or <see cref="Im2Col"/>.</summary>
    public static string Current => Setting.Value;

    /// <summary>Whether oneDNN can be used here; <paramref name="reason"/> says why not, or which version loaded.</summary>
    public static bool DnnlAvailable(out string reason) => DnnlRuntime.TryGet(out reason) is not null;

    /// <summary>One line for benchmarks, e.g. "dnnl (oneDNN 2.6.3) where it wins, else im2col" or "im2col".</summary>
    public static string Describe()
    {
        if (Current == Im2Col) return Im2Col;
        DnnlAvailable(out var version);
        return Current == Dnnl ? $"{Dnnl} ({version})" : $"{Dnnl} ({version}) where it wins, else {Im2Col}";
    }

    /// <summary>"" or "auto": <see cref="Auto"/> when libdnnl is loadable, else im2col; or one backend by name.</summary>
    public static string Select(string? name)
    {
        var key = (name ?? "").Trim().ToLowerInvariant();
        if (key is "" or Auto) return DnnlAvailable(out _) ? Auto : Im2Col;
        if (key == Im2Col) return Im2Col;
        if (key != Dnnl) throw new ArgumentException($"'{name}' is not a convolution backend; expected auto, {Dnnl} or {Im2Col}.");
        if (!DnnlAvailable(out var reason))
            throw new InvalidOperationException($"Convolution backend 'dnnl' was requested but cannot be used: {reason}.");
        return Dnnl;
    }

    /// <summary>Runs this thread's convolutions on backend <paramref name="name"/> until disposed.</summary>
    public static IDisposable Use(string name) => Setting.Use(Select(name));

    /// <summary>y (N, O, Ho, Wo) = conv(x (N, C, H, W), w (O, C, kH, kW)) + bias, overwriting y.</summary>
    public static void Forward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[]? bias, float[] y)
    {
        _recording?.Add(new ConvShape(batch, g, outChannels, bias is not null));
        if (UsesDnnl(g)) DnnlConvKernels.Forward(g, batch, outChannels, x, w, bias, y);
        else ConvKernels.Forward(g, batch, outChannels, x, w, bias, y);
    }

    /// <summary>
    /// Adds dX and dW (whichever is non-null) for output gradient gy. A gradient flagged fresh is known
    /// to hold zeros, so a backend may overwrite it instead of adding.
    /// </summary>
    public static void Backward(in ConvGeometry g, int batch, int outChannels, float[] x, float[] w, float[] gy,
        float[]? dx, bool dxFresh, float[]? dw, bool dwFresh)
    {
        if (UsesDnnl(g)) DnnlConvKernels.Backward(g, batch, outChannels, x, w, gy, dx, dxFresh, dw, dwFresh);
        else ConvKernels.Backward(g, batch, outChannels, x, w, gy, dx, dw);
    }

    /// <summary>Whether a convolution of geometry <paramref name="g"/> runs on oneDNN on this thread.</summary>
    public static bool UsesDnnl(in ConvGeometry g) => Current switch
    {
        Dnnl => true,
        Auto => DnnlConvKernels.Suits(g),
        _ => false,
    };

    /// <summary>The distinct convolution shapes <paramref name="run"/> computes on this thread, in first-seen order.</summary>
    public static IReadOnlyList<ConvShape> RecordShapes(Action run) => RecordCalls(run).Distinct().ToList();

    /// <summary>The shape of every convolution <paramref name="run"/> computes on this thread, in call order.</summary>
    public static IReadOnlyList<ConvShape> RecordCalls(Action run)
    {
        var previous = _recording;
        _recording = [];
        try
        {
            run();
            return _recording;
        }
        finally { _recording = previous; }
    }
}

/// <summary>One convolution call's shape: x (Batch, C, H, W) ⋆ w (OutChannels, C, kH, kW) [+ bias].</summary>
public readonly record struct ConvShape(int Batch, ConvGeometry Geometry, int OutChannels, bool Bias)
{
    /// <summary>Multiply-adds ×2 of the forward pass (the backward passes cost the same each).</summary>
    public double ForwardFlops => 2.0 * Batch * OutChannels * Geometry.ColumnRows * Geometry.ColumnCols;

    public override string ToString() =>
        $"{Batch}x{Geometry.Channels}x{Geometry.Height}x{Geometry.Width} k{Geometry.KernelH}x{Geometry.KernelW} s{Geometry.Stride} p{Geometry.Padding} -> {OutChannels}";
}
