using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Diagnostics;
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
        var steps = Options.Make("--steps", "Timed steps (after warm-up steps: 30, or as many as fit in 5 s, at least 2).", 10);
        var input = Options.Make("--input", "Input shape CxHxW of the random images.", "3x32x32");
        var classes = Options.Make("--classes", "Number of output classes.", 10);
        var width = Options.Make("--width", "Channel-width multiplier.", 1.0);
        var inferBatchSize = Options.Make("--infer-batch-size", "Images per inference step (eval mode).", 256);
        var json = Options.Json();
        var compare = new Option<bool>("--compare-pytorch") { Description = "Also run bench/pytorch_bench.py (python3-torch) with the same settings and print ratios." };
        var script = PyTorchComparison.ScriptOption();
        var profile = new Option<bool>("--profile") { Description = "Instead of throughput, print where a training step and an inference step spend their time, per op." };
        var command = new Command("bench", "Measure training and inference images/second on random data.")
        {
            arch, batchSize, inferBatchSize, steps, input, classes, width, json, compare, script, profile,
            CreateGemm(console), BenchConvCommand.Create(console), BenchCurveCommand.Create(console),
        };
        command.SetAction(parse =>
        {
            var name = parse.GetValue(arch) ?? throw new UsageException("bench needs --arch NAME (or the subcommand `bench gemm`).");
            int batch = parse.GetValue(batchSize), count = parse.GetValue(steps), inferBatch = parse.GetValue(inferBatchSize);
            if (batch <= 0) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            if (inferBatch <= 0) throw new UsageException($"--infer-batch-size must be at least 1, got {inferBatch}.");
            if (count <= 0) throw new UsageException($"--steps must be at least 1, got {count}.");
            var (c, h, w) = ParseShape(parse.GetValue(input) ?? "");
            var architecture = Architectures.Create(new ArchitectureConfig(name, c, h, w, parse.GetValue(classes), parse.GetValue(width)));
            if (parse.GetValue(profile))
            {
                if (parse.GetValue(compare)) throw new UsageException("--profile and --compare-pytorch measure different things; pass one of them.");
                return PrintProfile(console, architecture, batch, inferBatch, count, parse.GetValue(json));
            }
            var ours = Measure(architecture, batch, inferBatch, count);
            double gflopPerImage = TrainingFlops.ConvGflopPerImage(architecture), sgemmPeak = TrainingFlops.SgemmPeakGflops();
            var result = new Dictionary<string, object>
            {
                ["arch"] = name, ["width"] = parse.GetValue(width), ["batch_size"] = batch, ["infer_batch_size"] = inferBatch,
                ["input"] = $"{c}x{h}x{w}", ["train_images_per_second"] = Math.Round(ours.Train, 1),
                ["infer_images_per_second"] = Math.Round(ours.Infer, 1), ["train_peak_rss_delta_mb"] = Math.Round(ours.PeakDeltaMb, 1),
                ["gemm"] = Gemm.Current.Name, ["conv"] = ConvBackend.Describe(), ["threads"] = Parallelism.Threads, ["warmup_steps"] = ours.WarmupSteps,
                ["conv_gflop_per_train_image"] = Math.Round(gflopPerImage, 4), ["train_gflops"] = Math.Round(gflopPerImage * ours.Train, 1),
                ["sgemm_peak_gflops"] = Math.Round(sgemmPeak, 1),
            };
            if (parse.GetValue(compare))
            {
                if (c != 3 || h != 32 || w != 32 || parse.GetValue(classes) != 10)
                    throw new UsageException("--compare-pytorch measures the script's networks on 3x32x32 inputs with 10 classes; drop --input/--classes.");
                var torch = PyTorchComparison.Run(parse.GetValue(script),
                    ["--arch", name, "--width", parse.GetValue(width).ToString(CultureInfo.InvariantCulture),
                     "--batch-size", $"{batch}", "--infer-batch-size", $"{inferBatch}", "--steps", $"{count}",
                     "--threads", $"{Parallelism.Threads}", "--warmup", $"{ours.WarmupSteps}"], console.Cancellation);
                double tTrain = torch.GetProperty("train_images_per_sec").GetDouble();
                double tInfer = torch.GetProperty("infer_images_per_sec").GetDouble();
                double tMem = torch.GetProperty("peak_rss_delta_mb").GetDouble();
                result["pytorch"] = new Dictionary<string, object>
                {
                    ["torch"] = torch.GetProperty("torch").GetString() ?? "", ["train_images_per_second"] = Math.Round(tTrain, 1),
                    ["infer_images_per_second"] = Math.Round(tInfer, 1), ["train_peak_rss_delta_mb"] = Math.Round(tMem, 1),
                };
                result["speedup_train"] = PyTorchComparison.Ratio(ours.Train, tTrain);
                result["speedup_infer"] = PyTorchComparison.Ratio(ours.Infer, tInfer);
                result["memory_ratio"] = PyTorchComparison.Ratio(ours.PeakDeltaMb, tMem, higherIsBetter: false);
                ((Dictionary<string, object>)result["pytorch"])["train_gflops"] = Math.Round(gflopPerImage * tTrain, 1);
                if (!parse.GetValue(json))
                {
                    console.Out.WriteLine($"{name} {c}x{h}x{w}, train batch {batch}, inference batch {inferBatch}, {Parallelism.Threads} threads, gemm {Gemm.Current.Name}, conv {ConvBackend.Describe()}");
                    console.Out.WriteLine($"{"",-26}{"circumvent",12}{"pytorch",12}{"ratio",10}");
                    console.Out.WriteLine($"{"train images/s",-26}{ours.Train,12:F1}{tTrain,12:F1}{result["speedup_train"],10}");
                    console.Out.WriteLine($"{"inference images/s",-26}{ours.Infer,12:F1}{tInfer,12:F1}{result["speedup_infer"],10}");
                    console.Out.WriteLine($"{"train peak RSS delta MB",-26}{ours.PeakDeltaMb,12:F0}{tMem,12:F0}{result["memory_ratio"],10}");
                    console.Out.WriteLine($"{"train conv GFLOP/s",-26}{gflopPerImage * ours.Train,12:F1}{gflopPerImage * tTrain,12:F1}");
                    console.Out.WriteLine("(ratio > 1: circumvent is faster / uses less memory)");
                    PrintRoofline(console, gflopPerImage, ours.Train, sgemmPeak);
                    return 0;
                }
            }
            if (parse.GetValue(json))
                console.Out.WriteLine(JsonSerializer.Serialize(result));
            else
                console.Out.WriteLine($"{name} {c}x{h}x{w} batch {batch}: train {ours.Train:F0} img/s, inference (batch {inferBatch}) {ours.Infer:F0} img/s, " +
                                      $"train peak RSS +{ours.PeakDeltaMb:F0} MB (gemm {Gemm.Current.Name}, conv {ConvBackend.Describe()}, {Parallelism.Threads} threads)");
            if (!parse.GetValue(json)) PrintRoofline(console, gflopPerImage, ours.Train, sgemmPeak);
            return 0;
        });
        return command;
    }

    private static void PrintRoofline(CliConsole console, double gflopPerImage, double trainImagesPerSecond, double sgemmPeak)
    {
        double achieved = gflopPerImage * trainImagesPerSecond;
        console.Out.WriteLine($"training step: {gflopPerImage:F3} conv GFLOP/image (direct-algorithm count) × {trainImagesPerSecond:F1} img/s = " +
                              $"{achieved:F1} GFLOP/s, {100 * achieved / sgemmPeak:F0}% of SGEMM's {sgemmPeak:F0} GFLOP/s here ({Gemm.Current.Name}, n=2048, {Parallelism.Threads} threads)");
    }

    private static Command CreateGemm(CliConsole console)
    {
        var sizes = Options.Make("--sizes", "Square sizes separated by commas (whole numbers, e.g. 256,512).", string.Join(",", GemmBenchmark.DefaultSizes));
        var json = Options.Json();
        var compare = new Option<bool>("--compare-pytorch") { Description = "Also measure torch.mm (python3-torch) at n = 256..2048 and print ratios." };
        var script = PyTorchComparison.ScriptOption();
        var command = new Command("gemm", "Measure SGEMM GFLOP/s of the current provider on 1 and all threads.") { sizes, json, compare, script };
        command.SetAction(parse =>
        {
            var list = (parse.GetValue(sizes) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => NumberOptions.TryParse(s, out int n) && n > 0 ? n
                    : throw new UsageException($"--sizes expects comma-separated positive whole numbers such as 256,512, got '{s}'.")).ToArray();
            if (list.Length == 0) throw new UsageException("--sizes needs at least one size.");
            var results = GemmBenchmark.Run(Gemm.Current, list);
            if (parse.GetValue(compare))
            {
                var torch = PyTorchComparison.Run(parse.GetValue(script), ["--gemm", "--threads", $"{Parallelism.Threads}"], console.Cancellation)
                    .GetProperty("sgemm_gflops");
                var rows = results.Where(r => r.Threads == Parallelism.Threads)
                    .Select(r => (r.Size, Ours: r.BestGflops,
                        Torch: torch.TryGetProperty($"{r.Size}", out var v) ? v.GetDouble() : double.NaN)).ToList();
                if (parse.GetValue(json))
                    console.Out.WriteLine(JsonSerializer.Serialize(rows.Select(r => new Dictionary<string, object>
                    {
                        ["size"] = r.Size, ["threads"] = Parallelism.Threads, ["provider"] = Gemm.Current.Name,
                        ["gflops"] = Math.Round(r.Ours, 1), ["pytorch_gflops"] = Math.Round(r.Torch, 1),
                        ["ratio"] = PyTorchComparison.Ratio(r.Ours, r.Torch),
                    })));
                else
                {
                    console.Out.WriteLine($"SGEMM GFLOP/s, {Parallelism.Threads} threads, {Gemm.Current.Name} vs torch.mm");
                    console.Out.WriteLine($"{"n",6}{"circumvent",12}{"pytorch",12}{"ratio",10}");
                    foreach (var r in rows)
                        console.Out.WriteLine($"{r.Size,6}{r.Ours,12:F1}{r.Torch,12:F1}{PyTorchComparison.Ratio(r.Ours, r.Torch),10}");
                }
                return 0;
            }
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

    /// <summary>Per-op wall time of <paramref name="steps"/> training steps and inference steps, after the same warm-up as the throughput figures.</summary>
    private static int PrintProfile(CliConsole console, IArchitecture arch, int batch, int inferBatch, int steps, bool json)
    {
        var parameters = arch.Initialize(new Random(0));
        var config = new TrainingConfig { Architecture = arch.Config.Name, Epochs = 1, BatchSize = batch, Schedule = "none" };
        new Trainer(arch, parameters, config, new RunningStatsUpdater(parameters)).Train(RandomData(arch, batch, 2));
        var timed = RandomData(arch, batch, steps);
        IReadOnlyList<OpProfiler.Row> train, infer;
        using (var session = OpProfiler.Session())
        {
            new Trainer(arch, parameters, config, new RunningStatsUpdater(parameters)).Train(timed);
            train = session.Rows();
        }
        var data = RandomData(arch, inferBatch, steps + 2);
        var context = ForwardContext.Eval();
        using (GradMode.Disable())
        using (var session = OpProfiler.Session())
        {
            int step = 0;
            foreach (var b in data.Batches(0))
            {
                if (step++ == 2) session.Reset(); // the first two steps are warm-up
                using (b)
                using (TensorScope.Open())
                    arch.Forward(parameters, b.Images, context);
            }
            infer = session.Rows();
        }
        if (json)
            console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["arch"] = arch.Config.Name, ["width"] = arch.Config.WidthMultiplier, ["batch_size"] = batch, ["infer_batch_size"] = inferBatch,
                ["gemm"] = Gemm.Current.Name, ["conv"] = ConvBackend.Describe(), ["threads"] = Parallelism.Threads,
                ["train"] = OpProfileTable.Json(train, steps), ["inference"] = OpProfileTable.Json(infer, steps),
            }));
        else
        {
            console.Out.WriteLine($"{arch.Config.Name} (width {arch.Config.WidthMultiplier}), {Parallelism.Threads} threads, gemm {Gemm.Current.Name}, conv {ConvBackend.Describe()}");
            OpProfileTable.Print(console, $"training step, batch {batch}", train, steps);
            OpProfileTable.Print(console, $"inference step, batch {inferBatch}", infer, steps);
        }
        return 0;
    }

    private static (int C, int H, int W) ParseShape(string text)
    {
        var sides = text.Split('x').Select(p => NumberOptions.TryParse(p, out int v) && v > 0 ? v : 0).ToArray();
        if (sides.Length == 3 && sides.All(v => v > 0))
            return (sides[0], sides[1], sides[2]);
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

    private sealed record Throughput(double Train, double Infer, double PeakDeltaMb, int WarmupSteps);

    /// <summary>
    /// Training first, in a fresh state: the memory figure is the resident-set high-water mark during
    /// training (warm-up included) minus the resident size once the model and data exist, the same
    /// definition bench/pytorch_bench.py uses for PyTorch.
    /// </summary>
    private static Throughput Measure(IArchitecture arch, int batch, int inferBatch, int steps)
    {
        var parameters = arch.Initialize(new Random(0));
        var data = RandomData(arch, batch, BenchWarmup.MaxSteps + steps);
        GC.Collect();
        double baseline = ProcessMemory.ResidentMegabytes() ?? 0;
        ProcessMemory.ResetPeak();
        var (train, warmupSteps) = TrainThroughput(arch, parameters, batch, steps, data);
        double peakDelta = (ProcessMemory.PeakMegabytes() ?? 0) - baseline;
        BufferPool.Trim();
        double infer = InferenceThroughput(arch, inferBatch, steps);
        return new Throughput(train, infer, peakDelta, warmupSteps);
    }

    // One trainer for warm-up and timed steps, so the memory figure holds one optimizer state, as
    // PyTorch's does; the timed steps are the `steps` after the warm-up ends, cut off by cancellation.
    private static (double ImagesPerSecond, int WarmupSteps) TrainThroughput(IArchitecture arch, ParameterSet parameters, int batch, int steps, TensorBatchSource data)
    {
        var config = new TrainingConfig { Architecture = arch.Config.Name, Epochs = 1, BatchSize = batch, Schedule = "none" };
        using var stop = new CancellationTokenSource();
        var trainer = new Trainer(arch, parameters, config, new RunningStatsUpdater(parameters)) { Cancellation = stop.Token };
        var clock = Stopwatch.StartNew();
        int step = 0, warmup = -1;
        TimeSpan warmupEnd = default, end = default;
        trainer.Progress += p =>
        {
            step++;
            if (warmup < 0)
            {
                if (!BenchWarmup.Continues(step, clock)) (warmup, warmupEnd) = (step, p.Elapsed);
            }
            else if (step == warmup + steps)
            {
                end = p.Elapsed;
                stop.Cancel();
            }
        };
        try { trainer.Train(data); }
        catch (OperationCanceledException) { }
        if (warmup < 0 || end == default) throw new InvalidOperationException($"bench: {step} training steps ran, expected warm-up plus {steps}.");
        return (batch * steps / (end - warmupEnd).TotalSeconds, warmup);
    }

    private static double InferenceThroughput(IArchitecture arch, int batch, int steps)
    {
        var parameters = arch.Initialize(new Random(0));
        var data = RandomData(arch, batch, steps);
        var context = ForwardContext.Eval();
        using var noGrad = GradMode.Disable();
        void Step(Tensor images)
        {
            using (TensorScope.Open())
                arch.Forward(parameters, images, context);
        }
        using (var first = data.Batches(0).First())
        {
            var clock = Stopwatch.StartNew();
            for (int warmup = 0; BenchWarmup.Continues(warmup, clock); warmup++) Step(first.Images);
        }
        var timer = Stopwatch.StartNew();
        foreach (var b in data.Batches(0))
            using (b)
                Step(b.Images);
        return batch * steps / timer.Elapsed.TotalSeconds;
    }
}
