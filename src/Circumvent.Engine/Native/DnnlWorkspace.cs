using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// One thread's native memory for oneDNN's temporaries (our tensors reordered into blocked layouts)
/// and scratchpads: a 64-byte-aligned buffer handed out front to back and rewound after each call.
/// NOTE: why not <see cref="Memory.BufferPool"/>: pooled arrays are bucketed by exact length, and
/// alignment padding puts every temporary in a bucket of its own, so each shape's temporaries and
/// Winograd scratchpads (up to ~140 MB) would stay resident side by side; here all calls share the
/// size of the largest one. A CPU stream finishes every execution before returning, so one thread's
/// calls never overlap.
/// </summary>
internal sealed unsafe class DnnlWorkspace
{
    private const int Alignment = 64;
    [ThreadStatic] private static DnnlWorkspace? _current;

    private byte* _buffer;
    private long _capacity, _used;
    // Requests beyond the capacity reserved at the start of a call (an estimate that fell short):
    // served by their own allocations, freed at the rewind.
    private readonly List<nint> _overflow = [];

    /// <summary>This thread's workspace.</summary>
    public static DnnlWorkspace Current => _current ??= new DnnlWorkspace();

    /// <summary>Where the next request starts (pass to <see cref="Rewind"/>).</summary>
    public long Mark => _used;

    /// <summary>Bytes held now (the largest call so far), for diagnostics.</summary>
    public long CapacityBytes => _capacity;

    /// <summary>
    /// Starts a call that will take about <paramref name="bytes"/> (its temporaries and scratchpads,
    /// each rounded up to the alignment); grows the buffer first when it is smaller. Returns the mark
    /// to rewind to.
    /// </summary>
    public long Begin(long bytes)
    {
        if (_used == 0 && bytes > _capacity)
        {
            NativeMemory.AlignedFree(_buffer);
            _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, Alignment);
            _capacity = bytes;
        }
        return _used;
    }

    /// <summary><paramref name="bytes"/> of aligned memory, valid until the rewind past it.</summary>
    public void* Take(long bytes)
    {
        long rounded = RoundUp(bytes);
        if (_used + rounded <= _capacity)
        {
            var at = _buffer + _used;
            _used += rounded;
            return at;
        }
        var extra = NativeMemory.AlignedAlloc((nuint)Math.Max(rounded, Alignment), Alignment);
        _overflow.Add((nint)extra);
        return extra;
    }

    /// <summary>Releases everything taken since <paramref name="mark"/>.</summary>
    public void Rewind(long mark)
    {
        _used = mark;
        if (mark != 0) return;
        foreach (var extra in _overflow) NativeMemory.AlignedFree((void*)extra);
        _overflow.Clear();
    }

    public static long RoundUp(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;
}
