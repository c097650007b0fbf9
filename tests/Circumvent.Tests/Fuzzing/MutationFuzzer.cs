using System.Buffers.Binary;
using System.Diagnostics;

namespace Circumvent.Tests.Fuzzing;

/// <summary>
/// Seeded mutation fuzzing of a file reader: each iteration takes one of the valid seed files, applies
/// 1–4 random mutations (bit flips, byte insertion/deletion, truncation, chunk duplication, integer
/// fields overwritten with extreme values, long decimal numbers spliced into text headers) and parses
/// the result. The reader may accept the input or throw its typed exception; anything else escaping
/// (IndexOutOfRange, OutOfMemory, Overflow, a hang...) fails the test with the iteration to replay.
/// </summary>
public static class MutationFuzzer
{
    /// <summary>Iterations per reader; the issue asks for at least 100,000.</summary>
    public const int Iterations = 100_000;

    private static readonly long[] Extremes =
        [0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue, 1L << 32, 1L << 40];

    private static readonly string[] Numbers = ["0", "-1", "99999999999999999999", "2147483648", "4294967296", "65536", "1e308", "nan"];

    /// <param name="CpuSeconds">CPU time of the fuzzing thread (wall time is meaningless on a shared machine); NaN where unavailable.</param>
    public sealed record Report(int Iterations, int Accepted, int Rejected, TimeSpan Elapsed, double CpuSeconds);

    /// <param name="parse">Parses one candidate file.</param>
    /// <param name="isTyped">Whether an escaped exception is the reader's typed error.</param>
    public static Report Run(int seed, IReadOnlyList<byte[]> seeds, Action<byte[]> parse, Func<Exception, bool> isTyped, int iterations = Iterations)
    {
        var watch = Stopwatch.StartNew();
        int accepted = 0, rejected = 0;
        double cpu = double.NaN;
        // The loop runs on a worker so a hang fails the test instead of stalling the suite.
        var work = Task.Run(() =>
        {
            var rng = new Random(seed);
            double start = ThreadCpuSeconds();
            for (int i = 0; i < iterations; i++)
            {
                var input = Mutate(rng, seeds[rng.Next(seeds.Count)]);
                try
                {
                    parse(input);
                    accepted++;
                }
                catch (Exception e) when (isTyped(e))
                {
                    rejected++;
                }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException(
                        $"iteration {i} (seed {seed}): {e.GetType().Name} escaped: {e.Message}\ninput ({input.Length} bytes): {Convert.ToBase64String(input)}\n{e}");
                }
            }
            cpu = ThreadCpuSeconds() - start;
        });
        if (!work.Wait(TimeSpan.FromMinutes(3)))
            throw new Xunit.Sdk.XunitException($"fuzzing did not finish in 3 minutes (a hang?) after {accepted + rejected} inputs.");
        work.GetAwaiter().GetResult();
        return new Report(iterations, accepted, rejected, watch.Elapsed, cpu);
    }

    /// <summary>CPU time this thread has run (Linux: first field of /proc/thread-self/schedstat, in ns), NaN elsewhere.</summary>
    private static double ThreadCpuSeconds()
    {
        try
        {
            var text = File.ReadAllText("/proc/thread-self/schedstat");
            return long.Parse(text.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1e9;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    public static byte[] Mutate(Random rng, byte[] original)
    {
        var data = new List<byte>(original);
        int mutations = 1 + rng.Next(4);
        for (int m = 0; m < mutations; m++)
        {
            switch (rng.Next(8))
            {
                case 0 when data.Count > 0: // flip one bit
                    int at = rng.Next(data.Count);
                    data[at] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1: // insert random bytes
                    data.InsertRange(rng.Next(data.Count + 1), RandomBytes(rng, 1 + rng.Next(8)));
                    break;
                case 2 when data.Count > 0: // delete a run
                    int from = rng.Next(data.Count);
                    data.RemoveRange(from, Math.Min(data.Count - from, 1 + rng.Next(8)));
                    break;
                case 3: // truncate
                    int cut = rng.Next(data.Count + 1);
                    data.RemoveRange(cut, data.Count - cut);
                    break;
                case 4 when data.Count >= 8: // overwrite an integer field with an extreme value
                    OverwriteInteger(rng, data);
                    break;
                case 5 when data.Count > 0: // duplicate a chunk
                    int start = rng.Next(data.Count);
                    var chunk = data.GetRange(start, Math.Min(data.Count - start, 1 + rng.Next(32)));
                    data.InsertRange(rng.Next(data.Count + 1), chunk);
                    break;
                case 6: // splice an extreme decimal number (text headers: JSON, npy dict, PPM)
                    var digits = System.Text.Encoding.ASCII.GetBytes(Numbers[rng.Next(Numbers.Length)]);
                    int where = DigitPosition(rng, data);
                    int replace = 0;
                    while (where + replace < data.Count && char.IsAsciiDigit((char)data[where + replace])) replace++;
                    data.RemoveRange(where, replace);
                    data.InsertRange(where, digits);
                    break;
                default: // random byte
                    if (data.Count > 0) data[rng.Next(data.Count)] = (byte)rng.Next(256);
                    break;
            }
        }
        return [.. data];
    }

    private static void OverwriteInteger(Random rng, List<byte> data)
    {
        int size = new[] { 1, 2, 4, 8 }[rng.Next(4)];
        // Header fields sit near the start; bias a third of the overwrites there.
        int limit = rng.Next(3) == 0 ? Math.Min(data.Count, 64) : data.Count;
        if (limit < size) return;
        int at = rng.Next(limit - size + 1);
        Span<byte> bytes = stackalloc byte[8];
        long value = Extremes[rng.Next(Extremes.Length)];
        if (rng.Next(2) == 0) BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        else BinaryPrimitives.WriteInt64BigEndian(bytes, value << (8 * (8 - size)));
        for (int i = 0; i < size; i++) data[at + i] = bytes[i];
    }

    /// <summary>The start of a random run of ASCII digits, or a random position when there is none.</summary>
    private static int DigitPosition(Random rng, List<byte> data)
    {
        for (int attempt = 0; attempt < 8 && data.Count > 0; attempt++)
        {
            int at = rng.Next(data.Count);
            if (char.IsAsciiDigit((char)data[at]))
            {
                while (at > 0 && char.IsAsciiDigit((char)data[at - 1])) at--;
                return at;
            }
        }
        return rng.Next(data.Count + 1);
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var bytes = new byte[n];
        rng.NextBytes(bytes);
        return bytes;
    }
}
