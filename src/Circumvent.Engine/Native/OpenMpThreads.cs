using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// Thread count of the OpenMP runtime (libgomp) that Debian's oneDNN runs its primitives on.
/// NOTE: omp_set_num_threads sets the calling thread's own budget for the parallel regions it
/// starts, so it is applied per calling thread, and only when the engine's budget changed.
/// oneDNN also sizes a primitive's work split from omp_get_max_threads() when the primitive is
/// created, which is why primitives are cached per thread count.
/// </summary>
internal static unsafe partial class OpenMpThreads
{
    /// <summary>
    /// Makes OpenMP worker threads sleep, not spin, between parallel regions, unless the user chose
    /// otherwise. Must run before libgomp loads (it reads its environment once, when loaded).
    /// NOTE: with the default (spin for a while), measured on this 2-core machine shared with other
    /// work, a 2-thread oneDNN convolution cost 2–3× the CPU time of a 1-thread one — a descheduled
    /// partner thread leaves the other spinning at the barrier — and the spinning also takes the cores
    /// from the engine's own threads, which run every op between convolutions; sleeping brought it to
    /// about 1.2× (BENCHMARKS.md).
    /// </summary>
    public static void PreferSleepingWorkers()
    {
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
            SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0);
    }

    // NOTE: .NET's Environment.SetEnvironmentVariable does not reach the C environment libgomp reads.
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

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
