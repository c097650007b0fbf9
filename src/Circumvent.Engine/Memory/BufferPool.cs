using System.Collections.Concurrent;

namespace Circumvent.Engine.Memory;

/// <summary>
/// Recycles float buffers by exact length. A training step allocates the same sizes every
/// iteration, so exact-size buckets turn the second and later steps into pure reuse and keep
/// large arrays out of the garbage collector's hands.
/// </summary>
public static class BufferPool
{
    // NOTE: buffers below this size are cheaper to allocate than to look up.
    private const int MinPooledLength = 1024;
    private static readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> Buckets = new();
    private static long _pooledFloats;

    /// <summary>Upper bound on floats kept idle in the pool (default 1 GiB of floats).</summary>
    public static long MaxPooledFloats { get; set; } = 256L * 1024 * 1024;

    /// <summary>Returns an array of exactly <paramref name="length"/> floats, contents unspecified.</summary>
    public static float[] Rent(int length)
    {
        if (length >= MinPooledLength && Buckets.TryGetValue(length, out var bag) && bag.TryTake(out var buffer))
        {
            Interlocked.Add(ref _pooledFloats, -length);
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

    public static void Return(float[] buffer)
    {
        if (buffer.Length < MinPooledLength) return;
        if (Interlocked.Read(ref _pooledFloats) + buffer.Length > MaxPooledFloats) return;
        Interlocked.Add(ref _pooledFloats, buffer.Length);
        Buckets.GetOrAdd(buffer.Length, _ => new ConcurrentBag<float[]>()).Add(buffer);
    }

    /// <summary>Drops every idle buffer (e.g. between phases whose shapes differ).</summary>
    public static void Trim()
    {
        Buckets.Clear();
        Interlocked.Exchange(ref _pooledFloats, 0);
    }
}
