namespace Circumvent.Engine.Kernels;

/// <summary>
/// Undoes a per-thread setting override (convolution backend, oneDNN algorithm) when disposed;
/// disposing twice undoes once.
/// </summary>
internal sealed class ThreadSettingScope(Action restore) : IDisposable
{
    private Action? _restore = restore;

    public void Dispose()
    {
        _restore?.Invoke();
        _restore = null;
    }
}
