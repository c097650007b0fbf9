using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// Thread count of the OpenMP runtime (libgomp) that Debian's oneDNN runs its primitives on.
/// NOTE: omp_set_num_threads sets the calling thread's own budget for the parallel regions it
/// starts, so it is applied per calling thread, and only when the engine's budget changed.
/// oneDNN also sizes a primitive's work split from omp_get_max_threads() when the primitive is
/// created, which is why primitives are cached per thread count.
/// </summary>
internal static unsafe class OpenMpThreads
{
    private static readonly Lazy<nint> SetNumThreads = new(() =>
        NativeLibrary.TryLoad("libgomp.so.1", out var handle) && NativeLibrary.TryGetExport(handle, "omp_set_num_threads", out var fn)
            ? fn : 0);

    [ThreadStatic] private static int _applied;

    /// <summary>Makes OpenMP regions started from this thread use <paramref name="threads"/> threads.</summary>
    public static void Apply(int threads)
    {
        if (_applied == threads) return;
        var fn = SetNumThreads.Value;
        if (fn != 0) ((delegate* unmanaged<int, void>)fn)(threads);
        _applied = threads;
    }
}
