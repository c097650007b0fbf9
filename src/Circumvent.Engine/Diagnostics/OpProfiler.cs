using System.Diagnostics;

namespace Circumvent.Engine.Diagnostics;

/// <summary>
/// Wall time per op, forward and backward, for `circumvent bench --profile`. Off unless a
/// <see cref="Session"/> is open, and then one branch per op, so it costs nothing in normal runs.
///
/// How time is attributed, without instrumenting every kernel:
/// - Forward: every op computes its output and then attaches its backward
///   (<see cref="Tensor.WithBackward"/>, called in no-grad mode too), so an op is charged the time
///   since the previous mark: its own compute plus any glue code just before it (model code, and for
///   the first op of a step, fetching the batch).
/// - Backward: each node's closure is timed by <see cref="Autograd.Backprop"/> ("conv2d backward").
/// - <see cref="Region"/> marks named non-op work (the optimiser step). Time after the last op is
///   "other" when the rows are read, so the rows add up to the session's wall time.
/// Records only the thread that opened the session: ops dispatch from one thread (kernels fan out
/// internally), so that thread sees every op.
/// </summary>
public static class OpProfiler
{
    private static Recorder? _active;

    /// <summary>Starts recording (one session at a time); dispose the result to stop.</summary>
    public static Recorder Session()
    {
        var recorder = new Recorder(Environment.CurrentManagedThreadId);
        if (Interlocked.CompareExchange(ref _active, recorder, null) is not null)
            throw new InvalidOperationException("An op-profiling session is already open.");
        return recorder;
    }

    /// <summary>An op has just computed its output (called from <see cref="Tensor.WithBackward"/>).</summary>
    internal static void OpFinished(string op)
    {
        if (_active is { } r && r.OnThread) r.Finish(op);
    }

    /// <summary>Times one node's backward closure.</summary>
    internal static void Backward(string op, Action<Tensor> backward, Tensor grad)
    {
        if (_active is not { } r || !r.OnThread) { backward(grad); return; }
        r.Close();
        long start = Stopwatch.GetTimestamp();
        backward(grad);
        r.Add(op + " backward", Stopwatch.GetTimestamp() - start);
        r.Restart();
    }

    /// <summary>Charges the enclosed work to <paramref name="name"/>: <c>using (OpProfiler.Region("sgd step")) ...</c>.</summary>
    public static RegionScope Region(string name)
    {
        if (_active is not { } r || !r.OnThread) return default;
        r.Close();
        return new RegionScope(r, name, Stopwatch.GetTimestamp());
    }

    public readonly struct RegionScope(Recorder? recorder, string name, long start) : IDisposable
    {
        public void Dispose()
        {
            if (recorder is null) return;
            recorder.Add(name, Stopwatch.GetTimestamp() - start);
            recorder.Restart();
        }
    }

    public sealed record Row(string Name, int Calls, double Seconds);

    public sealed class Recorder : IDisposable
    {
        private readonly int _thread;
        private readonly Dictionary<string, (long Ticks, int Calls)> _totals = [];
        private readonly long _opened = Stopwatch.GetTimestamp();
        private long _mark; // when the current interval began

        internal Recorder(int thread)
        {
            _thread = thread;
            _mark = _opened;
        }

        internal bool OnThread => Environment.CurrentManagedThreadId == _thread;

        /// <summary>Charges the time since the last mark to <paramref name="op"/> and restarts the clock.</summary>
        internal void Finish(string op)
        {
            long now = Stopwatch.GetTimestamp();
            Add(op, now - _mark);
            _mark = now;
        }

        internal void Close() => Finish("other");

        internal void Restart() => _mark = Stopwatch.GetTimestamp();

        internal void Add(string name, long ticks)
        {
            var (t, c) = _totals.GetValueOrDefault(name);
            _totals[name] = (t + ticks, c + 1);
        }

        /// <summary>Per-name totals, largest first; the rows sum to the session's wall time so far.</summary>
        public IReadOnlyList<Row> Rows()
        {
            Close();
            return [.. _totals.Select(kv => new Row(kv.Key, kv.Value.Calls, kv.Value.Ticks / (double)Stopwatch.Frequency))
                .OrderByDescending(r => r.Seconds)];
        }

        /// <summary>Drops everything recorded so far (e.g. warm-up steps).</summary>
        public void Reset()
        {
            _totals.Clear();
            Restart();
        }

        public void Dispose() => Interlocked.CompareExchange(ref _active, null, this);
    }
}
