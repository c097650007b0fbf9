using Circumvent.Method.Pipelines;
using Circumvent.Method.Runs;

namespace Circumvent.Tests.Method.Runs;

public sealed class ExclusiveFileLockTests : IDisposable
{
    private readonly Circumvent.Tests.Data.TempFolder _folder = new();

    private string LockPath() => Path.Combine(_folder.Path, "store.lock");

    [Fact]
    public void ASecondHolderIsRefusedUntilTheFirstReleases()
    {
        string path = LockPath();
        using (var first = ExclusiveFileLock.TryAcquire(path))
        {
            Assert.NotNull(first);
            Assert.Null(ExclusiveFileLock.TryAcquire(path));
        }
        using var second = ExclusiveFileLock.TryAcquire(path);
        Assert.NotNull(second);
        // The file stays, so every later holder locks the same file.
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task AcquireWaitsForTheHolderAndSaysSoOnce()
    {
        string path = LockPath();
        var first = ExclusiveFileLock.TryAcquire(path)!;
        int waitingCalls = 0;
        var waiter = Task.Run(() => ExclusiveFileLock.Acquire(path, () => Interlocked.Increment(ref waitingCalls), CancellationToken.None,
            TimeSpan.FromMilliseconds(20)));
        await Task.Delay(300);
        Assert.False(waiter.IsCompleted);
        first.Dispose();
        (await waiter.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();
        Assert.Equal(1, waitingCalls);
    }

    [Fact]
    public void AWaitCanBeCancelled()
    {
        string path = LockPath();
        using var first = ExclusiveFileLock.TryAcquire(path)!;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        Assert.ThrowsAny<OperationCanceledException>(() => ExclusiveFileLock.Acquire(path, null, cancel.Token, TimeSpan.FromMilliseconds(20)));
    }

    [Fact]
    public void AMissingFolderIsAnErrorNotAWait()
    {
        string path = Path.Combine(_folder.Path, "absent", "store.lock");
        Assert.ThrowsAny<IOException>(() => ExclusiveFileLock.TryAcquire(path));
    }

    public void Dispose() => _folder.Dispose();
}
