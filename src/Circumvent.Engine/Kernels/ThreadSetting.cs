namespace Circumvent.Engine.Kernels;

/// <summary>
/// A kernel setting chosen once per process (from the environment, on first use) that a thread can
/// override for a scope: tests and benchmarks run the same code on each convolution backend, algorithm
/// or workspace budget. Disposing the scope restores what the thread had before; disposing twice
/// restores once.
/// </summary>
internal sealed class ThreadSetting<T>(Func<T> processDefault)
{
    private readonly Lazy<T> _process = new(processDefault);
    private readonly ThreadLocal<(bool IsSet, T Value)> _override = new();

    /// <summary>This thread's value: its override, else the process's.</summary>
    public T Value => _override.Value is (true, var value) ? value : _process.Value;

    /// <summary>Makes this thread use <paramref name="value"/> until the returned scope is disposed.</summary>
    public IDisposable Use(T value)
    {
        var previous = _override.Value;
        _override.Value = (true, value);
        return new Scope(() => _override.Value = previous);
    }

    private sealed class Scope(Action restore) : IDisposable
    {
        private Action? _restore = restore;

        public void Dispose()
        {
            _restore?.Invoke();
            _restore = null;
        }
    }
}
