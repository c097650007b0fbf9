namespace Circumvent.Engine.Autograd;

/// <summary>
/// The choices a network's piecewise-linear ops make at one input — which ReLU units are on, which element each max-pool
/// window picks — recorded by one pass and imposed on later passes. Under <see cref="Replay"/> the network is the smooth
/// function of its one linear piece at the recorded point, so finite differences of gradients there see only the
/// curvature PyTorch's double backward sees (it differentiates the backward with the masks and argmaxes held fixed)
/// and no kinks (<see cref="SecondOrderProducts"/>).
/// <para>
/// Ops that take part: <see cref="Op.Relu"/>, <see cref="Op.BatchNormRelu"/> (and its in-place and conv-fused forms,
/// which then run unfused) and <see cref="Op.MaxPool2d"/>. Other non-smooth ops (leaky ReLU, abs, max reductions) keep
/// their kinks. Passes must run the same ops in the same order as the recording pass; a mismatch throws.
/// </para>
/// </summary>
public sealed class ActivationPattern
{
    [ThreadStatic] private static ActivationPattern? _current;

    private readonly List<object> _choices = [];
    private bool _replaying;
    private int _cursor;

    /// <summary>The pattern the current thread records or replays; null outside <see cref="Record"/> / <see cref="Replay"/>.</summary>
    internal static ActivationPattern? Current => _current;

    /// <summary>Number of choices recorded (one per participating op call).</summary>
    public int Count => _choices.Count;

    /// <summary>Forgets earlier choices and records those of the ops run until the returned scope ends.</summary>
    public IDisposable Record()
    {
        _choices.Clear();
        return Enter(replaying: false);
    }

    /// <summary>Imposes the recorded choices, in order, on the ops run until the returned scope ends.</summary>
    public IDisposable Replay() => Enter(replaying: true);

    /// <summary>
    /// The op's choice: recorded from <paramref name="make"/> when recording, the recorded one when replaying
    /// (checked to be of the same kind and size).
    /// </summary>
    internal T[] Choose<T>(string op, int length, Func<T[]> make)
    {
        if (!_replaying)
        {
            var made = make();
            _choices.Add(made);
            return made;
        }
        if (_cursor >= _choices.Count)
            throw new InvalidOperationException($"activation pattern: {op} is choice {_cursor + 1}, but only {_choices.Count} were recorded.");
        if (_choices[_cursor++] is not T[] recorded || recorded.Length != length)
            throw new InvalidOperationException($"activation pattern: {op} (choice {_cursor}, {length} values) does not match the recorded pass.");
        return recorded;
    }

    private Scope Enter(bool replaying)
    {
        if (_current is not null) throw new InvalidOperationException("activation pattern: a pattern is already being recorded or replayed on this thread.");
        _replaying = replaying;
        _cursor = 0;
        _current = this;
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _current = null;
        }
    }
}
