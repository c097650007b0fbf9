using System.Runtime.InteropServices;

namespace Circumvent.Engine.Kernels;

/// <summary>
/// cblas_sgemm from libopenblas, bound at run time with <see cref="NativeLibrary"/> so the engine
/// still runs (on the managed kernel) where OpenBLAS is not installed. Loaded once per process.
/// NOTE: OpenBLAS is told to use one thread at load: Circumvent splits work across cores itself
/// and calls GEMM from inside those loops, so OpenBLAS threads would oversubscribe the cores.
/// </summary>
public sealed unsafe class OpenBlasGemm : IGemm
{
    private const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;

    // Tried in order; the pthread path is where Debian's libopenblas0-pthread puts the library.
    private static readonly string[] Candidates =
    [
        "libopenblas.so.0",
        "libopenblas.so",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
        "libblas.so.3",
    ];

    private static readonly Lazy<(OpenBlasGemm? Gemm, string Reason)> Loaded = new(Load);

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setNumThreads;
    private readonly delegate* unmanaged<int> _getNumThreads;

    private OpenBlasGemm(string libraryPath, nint sgemm, nint setNumThreads, nint getNumThreads, string coreName, string config)
    {
        LibraryPath = libraryPath;
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        _setNumThreads = (delegate* unmanaged<int, void>)setNumThreads;
        _getNumThreads = (delegate* unmanaged<int>)getNumThreads;
        CoreName = coreName;
        Config = config;
    }

    public string Name => $"openblas ({CoreName})";

    /// <summary>The kernel family OpenBLAS picked, e.g. "Haswell" or "Zen" (OPENBLAS_CORETYPE overrides it).</summary>
    public string CoreName { get; }

    /// <summary>openblas_get_config(): version and build options.</summary>
    public string Config { get; }

    public string LibraryPath { get; }

    /// <summary>OpenBLAS's own thread count (1 after load unless someone changed it); -1 when not exported.</summary>
    public int NativeThreads => _getNumThreads == null ? -1 : _getNumThreads();

    /// <summary>The process-wide instance, or null with the reason it could not be loaded.</summary>
    public static OpenBlasGemm? TryLoad(out string reason)
    {
        var (gemm, why) = Loaded.Value;
        reason = why;
        return gemm;
    }

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        // NOTE: cblas rejects lda < 1 (possible when k = 0); these cases are C = beta·C anyway.
        if (k == 0 || alpha == 0f) { GemmArguments.ScaleC(m, n, beta, c, ldc); return; }
        fixed (float* pa = a, pb = b, pc = c)
            _sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }

    private static (OpenBlasGemm?, string) Load()
    {
        var failures = new List<string>();
        foreach (var candidate in Candidates)
        {
            if (!NativeLibrary.TryLoad(candidate, out var handle))
            {
                failures.Add($"{candidate}: not loadable");
                continue;
            }
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm))
            {
                failures.Add($"{candidate}: no cblas_sgemm export");
                continue;
            }
            NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var setThreads);
            NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out var getThreads);
            string coreName = ReadString(handle, "openblas_get_corename") ?? "unknown core";
            string config = ReadString(handle, "openblas_get_config") ?? "not OpenBLAS";
            var gemm = new OpenBlasGemm(candidate, sgemm, setThreads, getThreads, coreName, config);
            if (gemm._setNumThreads != null) gemm._setNumThreads(1);
            return (gemm, $"loaded {candidate}");
        }
        return (null, "OpenBLAS not found (" + string.Join("; ", failures) + ")");
    }

    private static string? ReadString(nint handle, string export)
    {
        if (!NativeLibrary.TryGetExport(handle, export, out var fn)) return null;
        var text = Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)fn)());
        return string.IsNullOrWhiteSpace(text) ? null : text.Trim();
    }
}
