using System.Diagnostics;

namespace Circumvent.Cli.Commands;

/// <summary>
/// How long the benchmarks warm up before timing. .NET compiles a method quickly first and optimises
/// it only after ~30 calls (tiered JIT), so a couple of warm-up steps leave the BN, pooling and op code
/// half-optimised for a short timed run: cnn-small ×0.5 measured 1047 img/s after 2 warm-up steps and
/// 1371 after 150. The figure a user sees over an hour is the steady state, so warm up until 30 steps
/// have run or 5 s have passed (at least 2), and give PyTorch the same number of warm-up steps.
/// </summary>
internal static class BenchWarmup
{
    public const int MaxSteps = 30;
    private static readonly TimeSpan MaxTime = TimeSpan.FromSeconds(5);

    /// <summary>Whether to run another warm-up step after <paramref name="steps"/> steps since <paramref name="clock"/> started.</summary>
    public static bool Continues(int steps, Stopwatch clock) => steps < 2 || (steps < MaxSteps && clock.Elapsed < MaxTime);
}
