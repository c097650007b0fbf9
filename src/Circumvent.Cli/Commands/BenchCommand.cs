using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>`circumvent bench`: training/inference throughput of an architecture, and `bench gemm`.</summary>
internal static class BenchCommand
{
    public static Command Create(CliConsole console)
    {
        var arch = new Option<string>("--arch") { Description = "Architecture to benchmark." };
        var batchSize = Options.Make("--batch-size", "Images per step.", 128);
        var steps = Options.Make("--steps", "Timed steps (after 2 warm-up steps).", 10);
        var input = Options.Make("--input", "Input shape CxHxW of the random images.", "3x32x32");
        var classes = Options.Make("--classes", "Number of output classes.", 10);
        var width = Options.Make("--width", "Channel-width multiplier.", 1.0);
        var json = Options.Json();
        var command = new Command("bench", "Measure training and inference images/second on random data.")
        {
            arch, batchSize, steps, input, classes, width, json, CreateGemm(console),
        };
        command.SetAction(parse =>
        {
            var name = parse.GetValue(arch) ?? throw new UsageException("bench needs --arch NAME (or the subcommand `bench gemm`).");
            int batch = parse.GetValue(batchSize), count = parse.GetValue(steps);
            if (batch <= 0) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            if (count <= 0) throw new UsageException($"--steps must be at least 1, got {count}.");
            var (c, h, w) = ParseShape(parse.GetValue(input) ?? "");
            var architecture = Architectures.Create(new ArchitectureConfig(name, c, h, w, parse.GetValue(classes), parse.GetValue(width)));
            double train = TrainThroughput(architecture, batch, count);
            double infer = InferenceThroughput(architecture, batch, count);
            if (parse.GetValue(json))
                console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["arch"] = name, ["batch_size"] = batch, ["input"] = $"{c}x{h}x{w}",
                    ["train_images_per_second"] = Math.Round(train, 1), ["infer_images_per_second"] = Math.Round(infer, 1),
                    ["gemm"] = Gemm.Current.Name, ["threads"] = Parallelism.Threads,
                }));
            else
                console.Out.WriteLine($"{name} {c}x{h}x{w} batch {batch}: train {train:F0} img/s, inference {infer:F0} img/s " +
                                      $"(gemm {Gemm.Current.Name}, {Parallelism.Threads} threads)");
            return 0;
        });
        return command;
    }

    private static Command CreateGemm(CliConsole console)
    {
        var sizes = Options.Make("--sizes", "Comma-separated square sizes.", string.Join(",", GemmBenchmark.DefaultSizes));
        var json = Options.Json();
        var command = new Command("gemm", "Measure SGEMM GFLOP/s of the current provider on 1 and all threads.") { sizes, json };
        command.SetAction(parse =>
        {
            var list = (parse.GetValue(sizes) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
                    : throw new UsageException($"--sizes: '{s}' is not a positive integer.")).ToArray();
            if (list.Length == 0) throw new UsageException("--sizes needs at least one size.");
            var results = GemmBenchmark.Run(Gemm.Current, list);
            if (parse.GetValue(json))
                console.Out.WriteLine(JsonSerializer.Serialize(results.Select(r => new Dictionary<string, object>
                {
                    ["provider"] = r.Provider, ["size"] = r.Size, ["threads"] = r.Threads,
                    ["best_gflops"] = Math.Round(r.BestGflops, 2), ["median_gflops"] = Math.Round(r.MedianGflops, 2),
                })));
            else
                foreach (var r in results)
                    console.Out.WriteLine($"{r.Provider} n={r.Size} threads={r.Threads}: best {r.BestGflops:F1} GFLOP/s, median {r.MedianGflops:F1} GFLOP/s");
            return 0;
        });
        return command;
    }

    private static (int C, int H, int W) ParseShape(string text)
    {
        var parts = text.Split('x');
        if (parts.Length == 3 && parts.All(p => int.TryParse(p, CultureInfo.InvariantCulture, out int v) && v > 0))
            return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
        throw new UsageException($"--input '{text}' is not a shape; expected CxHxW, e.g. 3x32x32.");
    }

    private static TensorBatchSource RandomData(IArchitecture arch, int batch, int steps)
    {
        var c = arch.Config;
        var rng = new Random(0);
        var x = Tensor.Randn(rng, batch * steps, c.InChannels, c.Height, c.Width).Data;
        var labels = Enumerable.Range(0, batch * steps).Select(_ => rng.Next(c.Classes)).ToArray();
        return new TensorBatchSource(x, labels, [c.InChannels, c.Height, c.Width], batch, shuffleSeed: null);
    }

    private static double TrainThroughput(IArchitecture arch, int batch, int steps)
    {
        var parameters = arch.Initialize(new Random(0));
        var config = new TrainingConfig { Architecture = arch.Config.Name, Epochs = 1, BatchSize = batch, Schedule = "none" };
        new Trainer(arch, parameters, config, new RunningStatsUpdater(parameters)).Train(RandomData(arch, batch, 2)); // warm-up: JIT, pools
        var trainer = new Trainer(arch, parameters, config, new RunningStatsUpdater(parameters));
        var result = trainer.Train(RandomData(arch, batch, steps));
        return batch * steps / result.Elapsed.TotalSeconds;
    }

    private static double InferenceThroughput(IArchitecture arch, int batch, int steps)
    {
        var parameters = arch.Initialize(new Random(0));
        var data = RandomData(arch, batch, steps + 2);
        var context = ForwardContext.Eval();
        using var noGrad = GradMode.Disable();
        var clock = new Stopwatch();
        int step = 0;
        foreach (var b in data.Batches(0))
        {
            if (step == 2) clock.Start(); // the first two steps are warm-up
            using (b)
            using (TensorScope.Open())
                arch.Forward(parameters, b.Images, context);
            step++;
        }
        return batch * steps / clock.Elapsed.TotalSeconds;
    }
}
