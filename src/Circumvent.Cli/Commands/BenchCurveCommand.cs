using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Circumvent.Data;
using Circumvent.Engine.Diagnostics;
using Circumvent.Engine.Kernels;
using Circumvent.Models;
using Circumvent.Training;
using Circumvent.Method.Curves;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent bench curve`: the wall time of one TSC curve-training epoch (the method's inner loop:
/// build w(t), forward, backward into the middle bend, SGD step) over N random CIFAR-shaped images,
/// optionally next to PyTorch's functional_call loop doing the same work (bench/pytorch_bench.py --curve).
/// Both sides skip augmentation so the figure is compute only; the timed epoch follows a warm-up.
/// </summary>
internal static class BenchCurveCommand
{
    public static Command Create(CliConsole console)
    {
        var arch = Options.Required("--arch", "Architecture to benchmark (cnn-small, preact-resnet18, ...).");
        var width = Options.Make("--width", "Channel-width multiplier.", 1.0);
        var images = Options.Make("--images", "Images in the timed epoch (TSC's clean set on CIFAR-10 is 2,500).", 2500);
        var batchSize = Options.Make("--batch-size", "Images per curve step.", 128);
        var json = Options.Json();
        var compare = new Option<bool>("--compare-pytorch") { Description = "Also time bench/pytorch_bench.py --curve (python3-torch) and print the ratio." };
        var script = PyTorchComparison.ScriptOption();
        var profile = new Option<bool>("--profile") { Description = "Also print where the timed epoch's steps spend their time, per op." };
        var command = new Command("curve", "Time one Bézier-curve training epoch (TSC's inner loop) on random 3x32x32 images.")
        {
            arch, width, images, batchSize, json, compare, script, profile,
        };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(arch)!;
            int count = parse.GetValue(images), batch = parse.GetValue(batchSize);
            double w = parse.GetValue(width);
            if (count < 2) throw new UsageException($"--images must be at least 2, got {count}.");
            if (batch <= 0) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            if (!(w > 0)) throw new UsageException($"--width must be positive, got {w}.");
            var architecture = Architectures.Create(new ArchitectureConfig(name, 3, 32, 32, 10, w));
            var (seconds, rows) = TimeEpoch(architecture, count, batch, parse.GetValue(profile));
            int steps = (count + batch - 1) / batch;
            var result = new Dictionary<string, object>
            {
                ["arch"] = name, ["width"] = w, ["images"] = count, ["batch_size"] = batch,
                ["curve_epoch_seconds"] = Math.Round(seconds, 3), ["curve_images_per_second"] = Math.Round(count / seconds, 1),
                ["gemm"] = Gemm.Current.Name, ["conv"] = ConvBackend.Describe(), ["threads"] = Parallelism.Threads,
            };
            if (rows is not null) result["profile"] = OpProfileTable.Json(rows, steps);
            double torchSeconds = double.NaN;
            if (parse.GetValue(compare))
            {
                var torch = PyTorchComparison.Run(parse.GetValue(script),
                    ["--curve", "--arch", name, "--width", w.ToString(CultureInfo.InvariantCulture), "--images", $"{count}",
                     "--batch-size", $"{batch}", "--threads", $"{Parallelism.Threads}"], console.Cancellation);
                torchSeconds = torch.GetProperty("curve_epoch_seconds").GetDouble();
                result["pytorch"] = new Dictionary<string, object>
                {
                    ["torch"] = torch.GetProperty("torch").GetString() ?? "", ["curve_epoch_seconds"] = Math.Round(torchSeconds, 3),
                };
                result["speedup"] = PyTorchComparison.Ratio(torchSeconds, seconds);
            }
            if (parse.GetValue(json)) console.Out.WriteLine(JsonSerializer.Serialize(result));
            else if (double.IsNaN(torchSeconds))
                console.Out.WriteLine($"{name} (width {w}) curve epoch over {count} images, batch {batch}: {seconds:F2} s ({count / seconds:F0} img/s; gemm {Gemm.Current.Name}, {Parallelism.Threads} threads)");
            else
            {
                console.Out.WriteLine($"{name} (width {w}) curve epoch over {count} images, batch {batch}, {Parallelism.Threads} threads, gemm {Gemm.Current.Name}");
                console.Out.WriteLine($"{"",-22}{"circumvent",12}{"pytorch",12}{"ratio",10}");
                console.Out.WriteLine($"{"epoch seconds",-22}{seconds,12:F2}{torchSeconds,12:F2}{result["speedup"],10}");
                console.Out.WriteLine("(ratio > 1: circumvent is faster)");
            }
            if (rows is not null && !parse.GetValue(json)) OpProfileTable.Print(console, $"curve step, batch {batch}", rows, steps);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Warm-up passes over two full batches and one of the timed epoch's last-batch size (JIT tiers, buffer
    /// pools, oneDNN primitives for every batch shape the timed epoch meets; the PyTorch script warms up
    /// on a whole epoch for the same reason), then the timed epoch over all images, with
    /// per-op rows when profiled (the profiler's bookkeeping is a few branches per op, inside the timing).
    /// </summary>
    private static (double Seconds, IReadOnlyList<OpProfiler.Row>? Rows) TimeEpoch(IArchitecture arch, int count, int batch, bool profile)
    {
        var rng = new Random(0);
        var start = arch.Initialize(rng);
        var end = arch.Initialize(rng);
        var options = new CurveOptions { Epochs = 1, BatchSize = batch, Augment = false, Seed = 0 };
        var objective = new SupervisedObjective();
        // Repeated as BenchWarmup says, so the timed epoch measures the steady state.
        int warmup = count <= 2 * batch ? count : 2 * batch + count % batch;
        var warmupSet = RandomImages(warmup, rng);
        int stepsPerPass = (warmup + batch - 1) / batch;
        var warmupClock = Stopwatch.StartNew();
        for (int steps = 0; BenchWarmup.Continues(steps, warmupClock); steps += stepsPerPass)
            CurveTrainer.Fit(arch, start, end, warmupSet, Normalization.Cifar10, options, objective);
        var data = RandomImages(count, rng);
        using var session = profile ? OpProfiler.Session() : null;
        var clock = Stopwatch.StartNew();
        CurveTrainer.Fit(arch, start, end, data, Normalization.Cifar10, options, objective);
        double seconds = clock.Elapsed.TotalSeconds;
        return (seconds, session?.Rows());
    }

    private static ImageDataset RandomImages(int count, Random rng)
    {
        var pixels = new byte[count * 3 * 32 * 32];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(_ => rng.Next(10)).ToArray();
        return new ImageDataset(pixels, labels, 3, 32, 32, [.. Enumerable.Range(0, 10).Select(i => $"class{i}")]);
    }
}
