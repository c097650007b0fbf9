using Circumvent.Engine.Kernels;

namespace Circumvent.Tests.Support;

/// <summary>
/// Runs a convolution test on each backend: the managed im2col + GEMM kernels always, oneDNN when
/// libdnnl is loadable (otherwise the dnnl case reports Skipped with the reason).
/// </summary>
public static class ConvBackends
{
    public static readonly string[] Names = [ConvBackend.Im2Col, ConvBackend.Dnnl];

    /// <summary>One row per backend, for [MemberData].</summary>
    public static IEnumerable<object[]> Each => Names.Select(name => new object[] { name });

    /// <summary>Every case row once per backend, the backend name appended as the last argument.</summary>
    public static IEnumerable<object[]> Cross(IEnumerable<object[]> cases) =>
        from row in cases from name in Names select (object[])[.. row, name];

    /// <summary>Makes this thread's convolutions run on <paramref name="backend"/> until disposed; skips when it is unavailable.</summary>
    public static IDisposable Use(string backend)
    {
        if (backend == ConvBackend.Dnnl)
            Skip.IfNot(ConvBackend.DnnlAvailable(out var reason), $"oneDNN is not available: {reason}");
        return ConvBackend.Use(backend);
    }
}
