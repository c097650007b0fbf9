using System.CommandLine;
using System.Globalization;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Cli.Commands;

/// <summary>`circumvent bench conv`: each convolution shape of a network timed on im2col, dnnl plain and dnnl blocked.</summary>
internal static class BenchConvCommand
{
    public static Command Create(CliConsole console)
    {
        var arch = Options.Required("--arch", "Architecture whose convolution shapes are timed.");
        var width = Options.Make("--width", "Channel-width multiplier.", 1.0);
        var batchSize = Options.Make("--batch-size", "Images per step.", 128);
        var runs = Options.Make("--runs", "Timed runs per shape and backend (the best counts), after one warm-up.", 2);
        var cpu = new Option<bool>("--cpu-time") { Description = "Time with the process's CPU clock (robust on a shared machine) instead of the wall clock." };
        var command = new Command("conv", "Time forward and backward of every convolution shape of --arch on each backend.") { arch, width, batchSize, runs, cpu };
        command.SetAction(parse =>
        {
            int batch = parse.GetValue(batchSize), count = parse.GetValue(runs);
            if (batch <= 0) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            if (count <= 0) throw new UsageException($"--runs must be at least 1, got {count}.");
            var name = parse.Value(arch);
            var architecture = Architectures.Create(new ArchitectureConfig(name, 3, 32, 32, 10, parse.GetValue(width)));
            var shapes = Shapes(architecture, batch);
            console.Out.WriteLine($"{name} width {parse.GetValue(width).ToString(CultureInfo.InvariantCulture)}, batch {batch}, {Parallelism.Threads} threads, " +
                                  $"gemm {Gemm.Current.Name}; {(parse.GetValue(cpu) ? "CPU" : "wall")} ms per call, best of {count}; fwd = forward, bwd = backward data + weights");
            console.Out.WriteLine($"{"shape (NxCxHxW kernel stride pad -> O)",-40}{"im2col fwd",11}{"bwd",8}{"plain fwd",11}{"bwd",8}{"blocked fwd",13}{"bwd",8}{"best",9}");
            ConvTiming total = new(0, 0), best = new(0, 0);
            foreach (var shape in shapes)
            {
                var r = ConvBenchmark.Measure(shape, count, parse.GetValue(cpu));
                var winner = new[] { ("im2col", r.Im2Col), ("plain", r.DnnlPlain), ("blocked", r.DnnlBlocked) }
                    .Where(c => c.Item2 is not null).MinBy(c => c.Item2!.Total);
                console.Out.WriteLine($"{shape,-40}{Ms(r.Im2Col.Forward),11}{Ms(r.Im2Col.Backward),8}" +
                                      $"{Ms(r.DnnlPlain?.Forward),11}{Ms(r.DnnlPlain?.Backward),8}" +
                                      $"{Ms(r.DnnlBlocked?.Forward),13}{Ms(r.DnnlBlocked?.Backward),8}{winner.Item1,9}");
                total = new(total.Forward + r.Im2Col.Forward, total.Backward + r.Im2Col.Backward);
                best = new(best.Forward + winner.Item2!.Forward, best.Backward + winner.Item2.Backward);
            }
            console.Out.WriteLine($"all shapes: im2col {Ms(total.Total)} ms, best per shape {Ms(best.Total)} ms (im2col / best = {total.Total / best.Total:F2})");
            return 0;
        });
        return command;
    }

    // One training-mode forward pass with a small batch records the layers' geometry; the batch is then set to the one asked for.
    private static IReadOnlyList<ConvShape> Shapes(IArchitecture architecture, int batch)
    {
        var parameters = architecture.Initialize(new Random(0));
        var x = Tensor.Randn(new Random(0), 2, 3, 32, 32);
        using var noGrad = GradMode.Disable();
        using var scope = TensorScope.Open();
        return ConvBackend.RecordShapes(() => architecture.Forward(parameters, x, ForwardContext.Eval()))
            .Select(s => s with { Batch = batch }).Distinct().ToList();
    }

    private static string Ms(double? seconds) => seconds is { } s ? (s * 1000).ToString("F1", CultureInfo.InvariantCulture) : "-";
}
