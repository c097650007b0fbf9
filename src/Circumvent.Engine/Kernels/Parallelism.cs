namespace Circumvent.Engine.Kernels;

/// <summary>
/// The engine's one thread budget. Set CIRCUMVENT_THREADS to override the core count.
/// Ops gate parallel loops on <see cref="Worthwhile"/> so tiny tensors stay on one thread.
/// </summary>
public static class Parallelism
{
    private static int _threads = ReadThreads();

    public static int Threads
    {
        get => _threads;
        set => _threads = Math.Max(1, value);
    }

    public static ParallelOptions Options => new() { MaxDegreeOfParallelism = _threads };

    /// <summary>Heuristic: at least ~32k scalar operations per extra thread.</summary>
    public static bool Worthwhile(long work) => _threads > 1 && work >= 32_768;

    /// <summary>Runs body(i) for i in [0, count), in parallel when the total work pays for it.</summary>
    public static void For(int count, long workPerItem, Action<int> body)
    {
        if (count > 1 && Worthwhile(count * workPerItem))
            Parallel.For(0, count, Options, body);
        else
            for (int i = 0; i < count; i++) body(i);
    }

    /// <summary>Splits [0, count) into one contiguous range per thread: body(start, end).</summary>
    public static void ForRanges(int count, long workPerItem, Action<int, int> body)
    {
        int parts = count > 1 && Worthwhile(count * workPerItem) ? Math.Min(_threads, count) : 1;
        if (parts == 1) { body(0, count); return; }
        Parallel.For(0, parts, Options, p =>
        {
            int start = (int)((long)count * p / parts), end = (int)((long)count * (p + 1) / parts);
            body(start, end);
        });
    }

    private static int ReadThreads()
    {
        var s = Environment.GetEnvironmentVariable("CIRCUMVENT_THREADS");
        return int.TryParse(s, out var n) && n > 0 ? n : Environment.ProcessorCount;
    }
}
