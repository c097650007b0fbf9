namespace Circumvent.Engine.Memory;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost open scope; disposing
/// the scope returns their buffers to <see cref="BufferPool"/>. Wrap a training step in one so
/// that activations and their gradients are recycled instead of collected.
/// Tensors that must outlive the scope are handed out with <see cref="Keep"/>.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;
    private readonly TensorScope? _parent;
    private readonly List<Tensor> _owned = new();
    private bool _disposed;

    private TensorScope()
    {
        _parent = _current;
        _current = this;
    }

    public static TensorScope Open() => new();

    internal static void Register(Tensor tensor) => _current?._owned.Add(tensor);

    /// <summary>Moves <paramref name="tensor"/> to the enclosing scope (or to no scope, leaving it to the GC).</summary>
    public Tensor Keep(Tensor tensor)
    {
        if (_owned.Remove(tensor)) _parent?._owned.Add(tensor);
        return tensor;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_current != this)
            throw new InvalidOperationException("Tensor scopes must be disposed in the reverse order they were opened.");
        _current = _parent;
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}
