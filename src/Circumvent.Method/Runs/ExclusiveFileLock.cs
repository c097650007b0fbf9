namespace Circumvent.Method.Runs;

/// <summary>
/// An exclusive lock on a file shared between processes (runners on one machine, or shards on machines
/// that share the cache folder): held while the file is open with <see cref="FileShare.None"/>, which .NET
/// backs with an advisory lock the OS drops when the holder exits, so a crash leaves no stale lock. The
/// file itself is never deleted: deleting it would let a waiter lock the old, unlinked file while a
/// newcomer locks a new one under the same name.
/// </summary>
public sealed class ExclusiveFileLock : IDisposable
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    private readonly FileStream _stream;

    private ExclusiveFileLock(FileStream stream) => _stream = stream;

    /// <summary>Takes the lock at <paramref name="path"/>, without waiting; null when another holder has it.</summary>
    public static ExclusiveFileLock? TryAcquire(string path)
    {
        try
        {
            return new ExclusiveFileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException) when (File.Exists(path))
        {
            // Held by someone else (a missing folder or a full disk would have thrown with no file there).
            return null;
        }
    }

    /// <summary>
    /// Takes the lock, polling every <paramref name="pollInterval"/> (default <see cref="PollInterval"/>) while
    /// another holder has it; <paramref name="waiting"/> is called once, when the first attempt fails.
    /// </summary>
    public static ExclusiveFileLock Acquire(string path, Action? waiting, CancellationToken cancellation, TimeSpan? pollInterval = null)
    {
        bool told = false;
        while (true)
        {
            if (TryAcquire(path) is { } held) return held;
            if (!told)
            {
                waiting?.Invoke();
                told = true;
            }
            if (cancellation.WaitHandle.WaitOne(pollInterval ?? PollInterval)) cancellation.ThrowIfCancellationRequested();
        }
    }

    public void Dispose() => _stream.Dispose();
}
