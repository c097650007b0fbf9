using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Cli.Commands;

/// <summary>
/// How far a training step is from the hardware: the convolutions' floating-point work per training
/// image, and the SGEMM rate of this machine measured in the same run, so that achieved GFLOP/s can be
/// set next to a peak (BENCHMARKS.md). FLOPs are counted as the direct algorithm does them (2·N·O·C·kH·kW·Ho·Wo
/// per pass; forward, backward-data and backward-weights cost the same), so an engine that runs
/// Winograd or skips work shows an "effective" rate, which can exceed the SGEMM figure.
/// Linear layers, batch norm and pooling are left out: on these networks they are under 1% of the work.
/// </summary>
internal static class TrainingFlops
{
    /// <summary>Convolution GFLOP per image of one training step (forward + both backward passes).</summary>
    public static double ConvGflopPerImage(IArchitecture arch)
    {
        var parameters = arch.Initialize(new Random(0));
        var c = arch.Config;
        using var noGrad = GradMode.Disable();
        // The count does not depend on the backend; im2col keeps oneDNN from compiling batch-1 primitives no step uses.
        using var backend = ConvBackend.Use(ConvBackend.Im2Col);
        using var scope = TensorScope.Open();
        var x = Tensor.Zeros(1, c.InChannels, c.Height, c.Width);
        // Every call, not distinct shapes: a network repeats a shape in several layers.
        var calls = ConvBackend.RecordCalls(() => arch.Forward(parameters, x, ForwardContext.Eval()));
        return 3 * calls.Sum(s => s.ForwardFlops) / 1e9;
    }

    /// <summary>Best SGEMM GFLOP/s of the current provider at n = 2048 on all threads.</summary>
    public static double SgemmPeakGflops() =>
        GemmBenchmark.Run(Gemm.Current, [2048], [Parallelism.Threads]).Max(r => r.BestGflops);
}
