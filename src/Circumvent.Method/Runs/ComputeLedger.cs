using System.Diagnostics;
using System.Globalization;

namespace Circumvent.Method.Runs;

/// <summary>
/// The seconds one piece of work (a curve fit, a model's training) has cost over every call that worked
/// on it. Work that resumes from a per-epoch checkpoint would otherwise report only its last call's
/// time. The count lives in a small text file, rewritten every <see cref="FlushInterval"/> while the
/// work runs and when the ledger is disposed, so a crash loses at most that much of it, and Ctrl+C none.
/// </summary>
public sealed class ComputeLedger : IDisposable
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(15);

    private readonly string _path;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer _timer;
    private readonly Lock _gate = new();
    private bool _stopped;

    /// <summary>Opens the count at <paramref name="path"/>, continuing from what an earlier call left there.</summary>
    public ComputeLedger(string path)
    {
        _path = path;
        EarlierSeconds = ReadEarlier(path);
        _timer = new Timer(_ => Flush(), null, FlushInterval, FlushInterval);
    }

    /// <summary>Seconds recorded by earlier, interrupted calls.</summary>
    public double EarlierSeconds { get; }

    /// <summary>Earlier calls' seconds plus this call's so far.</summary>
    public double TotalSeconds => EarlierSeconds + _clock.Elapsed.TotalSeconds;

    /// <summary>Stops counting and returns the total; the file stays until <see cref="Delete"/>.</summary>
    public double Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            _clock.Stop();
        }
        _timer.Dispose();
        return TotalSeconds;
    }

    /// <summary>Removes the file once the work's result (which carries the total) is saved.</summary>
    public void Delete()
    {
        Stop();
        lock (_gate) File.Delete(_path);
    }

    /// <summary>Saves the count so far: the work stopped before finishing and may resume.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            _clock.Stop();
            Write();
        }
    }

    private void Flush()
    {
        lock (_gate)
        {
            if (!_stopped) Write();
        }
    }

    private void Write()
    {
        try { AtomicText.Write(_path, TotalSeconds.ToString("R", CultureInfo.InvariantCulture)); }
        catch (IOException) { } // a time report is not worth failing the work for (e.g. a full disk mid-run)
    }

    // An unreadable count (hand-edited, or from a future format) only costs the report its earlier part.
    private static double ReadEarlier(string path) =>
        File.Exists(path) && double.TryParse(File.ReadAllText(path), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0 && double.IsFinite(s)
            ? s : 0;
}
