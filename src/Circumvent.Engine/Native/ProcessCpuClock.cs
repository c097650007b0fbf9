using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// CPU time consumed by this process (all threads), from clock_gettime(CLOCK_PROCESS_CPUTIME_ID) at
/// nanosecond resolution. On a machine shared with other work it measures what a kernel costs rather
/// than how much of the cores the scheduler happened to give it.
/// </summary>
public static partial class ProcessCpuClock
{
    private const int ClockProcessCpuTimeId = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>Seconds of CPU time so far, or NaN where the clock is not available.</summary>
    public static double Seconds()
    {
        try
        {
            return ClockGetTime(ClockProcessCpuTimeId, out var t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9 : double.NaN;
        }
        catch (DllNotFoundException) { return double.NaN; }
        catch (EntryPointNotFoundException) { return double.NaN; }
    }
}
