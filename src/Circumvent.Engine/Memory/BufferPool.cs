using System.Collections.Concurrent;

namespace Circumvent.Engine.Memory;

/// <summary>
/// Recycles float buffers by exact length. A training step allocates the same sizes every
/// iteration, so exact-size buckets turn the second and later steps into pure reuse and keep
/// large arrays out of the garbage collector's hands.
/// </summary>
/// <remarks>
/// How much it keeps idle: at most <see cref="IdleLimitFloats"/>, the larger of <see cref="MinIdleLimitFloats"/> and twice
/// the most floats ever rented and not yet returned at one time (the largest working set seen). Twice, because exact-size
/// buckets cannot lend one size's idle buffers to another: a step needs each size's own peak held, and those peaks come at
/// different times (gradients of the first layers are rented while the last layers' activations already lie idle). That
/// sum was 1.3–1.55× the working set for airnet, cnn-small, preact-resnet18 and vgg16. A steady-state step then fits:
/// the former fixed cap of 1 GiB, below what airnet needs pooled at batch 1024 (2.4 GB, 1.55 GB of it rented at once),
/// dropped 1.6 GB at every step and re-allocated it at the next: garbage that the non-concurrent GC let pile up to
/// 10–15 GB of resident memory.
/// Buffers rented and never returned (left to the garbage collector) stay counted as rented, which can only raise the
/// limit; <see cref="Trim"/> starts the count anew.
/// When a return would exceed the limit, the buffers of the sizes rented least recently (an earlier phase's, e.g.
/// training's once evaluation runs) make room first; the returned buffer is dropped only when nothing else is idle.
/// </remarks>
public static class BufferPool
{
    // NOTE: buffers below this size are cheaper to allocate than to look up.
    private const int MinPooledLength = 1024;
    private static readonly ConcurrentDictionary<int, Bucket> Buckets = new();
    private static long _idleFloats, _rentedFloats, _peakRentedFloats, _clock;

    private sealed class Bucket
    {
        public readonly ConcurrentBag<float[]> Buffers = new();
        public long LastRented; // the pool's clock at this size's last rent: the eviction order
    }

    /// <summary>The idle limit before any working set is seen (default 1 GiB of floats).</summary>
    public static long MinIdleLimitFloats { get; set; } = 256L * 1024 * 1024;

    /// <summary>Floats kept idle now.</summary>
    public static long IdleFloats => Interlocked.Read(ref _idleFloats);

    /// <summary>The most floats rented and not yet returned at one time since the start (or the last <see cref="Trim"/>).</summary>
    public static long PeakRentedFloats => Interlocked.Read(ref _peakRentedFloats);

    /// <summary>The most floats the pool keeps idle: the larger of <see cref="MinIdleLimitFloats"/> and twice <see cref="PeakRentedFloats"/>.</summary>
    public static long IdleLimitFloats => Math.Max(MinIdleLimitFloats, 2 * PeakRentedFloats);

    /// <summary>Returns an array of exactly <paramref name="length"/> floats, contents unspecified.</summary>
    public static float[] Rent(int length)
    {
        if (length < MinPooledLength) return GC.AllocateUninitializedArray<float>(length);
        RaisePeak(Interlocked.Add(ref _rentedFloats, length));
        var bucket = Buckets.GetOrAdd(length, _ => new Bucket());
        Volatile.Write(ref bucket.LastRented, Interlocked.Increment(ref _clock));
        if (bucket.Buffers.TryTake(out var buffer))
        {
            Interlocked.Add(ref _idleFloats, -length);
            return buffer;
        }
        return GC.AllocateUninitializedArray<float>(length);
    }

    /// <summary>Returns an array of exactly <paramref name="length"/> zeros.</summary>
    public static float[] RentZeroed(int length)
    {
        var buffer = Rent(length);
        Array.Clear(buffer);
        return buffer;
    }

    /// <summary>Hands <paramref name="buffer"/> back (it must have come from <see cref="Rent"/>); the caller must not use it again.</summary>
    public static void Return(float[] buffer)
    {
        int length = buffer.Length;
        if (length < MinPooledLength) return;
        Uncount(length);
        if (!MakeRoom(length)) return; // left to the garbage collector
        Interlocked.Add(ref _idleFloats, length);
        Buckets.GetOrAdd(length, _ => new Bucket()).Buffers.Add(buffer);
    }

    /// <summary>
    /// Drops every idle buffer and forgets the working set seen so far (e.g. between phases whose shapes differ); buffers
    /// rented before count as returned from now on.
    /// </summary>
    public static void Trim()
    {
        Buckets.Clear();
        Interlocked.Exchange(ref _idleFloats, 0);
        Interlocked.Exchange(ref _rentedFloats, 0);
        Interlocked.Exchange(ref _peakRentedFloats, 0);
    }

    // rented −= length, but not below zero (a buffer rented before a Trim, or never rented, comes back).
    private static void Uncount(int length)
    {
        long rented;
        do rented = Interlocked.Read(ref _rentedFloats);
        while (Interlocked.CompareExchange(ref _rentedFloats, Math.Max(0, rented - length), rented) != rented);
    }

    private static void RaisePeak(long rented)
    {
        long peak;
        while (rented > (peak = Interlocked.Read(ref _peakRentedFloats)))
            if (Interlocked.CompareExchange(ref _peakRentedFloats, rented, peak) == peak) return;
    }

    // Evicts idle buffers of other sizes, least recently rented first, until `length` more floats fit under the limit.
    // False when they cannot be made to fit. Only runs when the pool is full, so the scan over sizes is rare.
    private static bool MakeRoom(int length)
    {
        long limit = IdleLimitFloats;
        if (length > limit) return false;
        while (Interlocked.Read(ref _idleFloats) + length > limit)
        {
            Bucket? oldest = null;
            foreach (var (size, bucket) in Buckets)
                if (size != length && !bucket.Buffers.IsEmpty && (oldest is null || Volatile.Read(ref bucket.LastRented) < Volatile.Read(ref oldest.LastRented)))
                    oldest = bucket;
            if (oldest is null) return false;
            if (oldest.Buffers.TryTake(out var evicted)) Interlocked.Add(ref _idleFloats, -evicted.Length);
        }
        return true;
    }
}
