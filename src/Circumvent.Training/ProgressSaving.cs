using System.Globalization;

namespace Circumvent.Training;

/// <summary>
/// How often a run writes its progress to disk, and how many bytes it has written. A state file
/// (<see cref="TrainingStateFile"/>) is written at most once per <see cref="Interval"/>; the epochs in
/// between are kept in memory and written when the work ends, however it ends (finished, Ctrl+C,
/// SIGTERM), so a resumed run is still exact. Writing every epoch made a default TSC run of a 1.7 MB
/// model write about 4.2 GB (issue #20); a crash without a chance to write (power loss, SIGKILL) now
/// loses at most one interval of work instead of one epoch.
/// </summary>
/// <param name="interval">Least time between two writes of one state file; zero writes after every step a run can resume at.</param>
/// <param name="clock">Measures the interval (a fake one in tests).</param>
public sealed class ProgressSaving(TimeSpan interval, TimeProvider clock)
{
    /// <summary>The environment variable that sets <see cref="Interval"/> in seconds (0 = every epoch).</summary>
    public const string IntervalVariable = "CIRCUMVENT_SAVE_INTERVAL";

    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(60);

    private long _bytesWritten;
    private int _filesWritten;

    public TimeSpan Interval { get; } = interval >= TimeSpan.Zero ? interval : throw new ArgumentOutOfRangeException(nameof(interval), "must not be negative");

    public TimeProvider Clock { get; } = clock;

    /// <summary>Bytes of every file counted with <see cref="Count"/> so far.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Writes counted with <see cref="Count"/> so far.</summary>
    public int FilesWritten => Volatile.Read(ref _filesWritten);

    /// <summary>The interval from <see cref="IntervalVariable"/> (see <see cref="ParseInterval"/>), on the system clock.</summary>
    public static ProgressSaving FromEnvironment() =>
        new(ParseInterval(Environment.GetEnvironmentVariable(IntervalVariable)), TimeProvider.System);

    /// <summary>
    /// Seconds as <see cref="IntervalVariable"/> gives them ("60", "2.5", "0"); unset or blank: <see cref="DefaultInterval"/>.
    /// Throws <see cref="ArgumentException"/> naming the variable for anything else.
    /// </summary>
    public static TimeSpan ParseInterval(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return DefaultInterval;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || !double.IsFinite(seconds) || seconds < 0)
            throw new ArgumentException($"{IntervalVariable} must be a number of seconds ≥ 0 (0 = save after every step), got '{text}'.");
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>True when at least <see cref="Interval"/> has passed since <paramref name="lastWrite"/> (a <see cref="TimeProvider.GetTimestamp"/> value).</summary>
    public bool IsDue(long lastWrite) => Clock.GetElapsedTime(lastWrite) >= Interval;

    /// <summary>Adds the size of the file just written at <paramref name="path"/> to <see cref="BytesWritten"/>.</summary>
    public void Count(string path)
    {
        Interlocked.Add(ref _bytesWritten, new FileInfo(path).Length);
        Interlocked.Increment(ref _filesWritten);
    }
}
