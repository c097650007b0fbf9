using System.CommandLine;
using System.Diagnostics;
using Circumvent.Data;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent demo`: trains cnn-small on Fashion-MNIST from its default location and reports the
/// test accuracy; tuned to pass 90% within a few minutes on two cores.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The demo recipe: short one-cycle-style run (warm-up then cosine to zero), no augmentation.</summary>
    public static TrainingConfig Recipe { get; } = new()
    {
        Architecture = "cnn-small",
        Data = "fashion-mnist",
        WidthMultiplier = 0.5,
        Epochs = 3,
        BatchSize = 128,
        Optimizer = "sgd",
        LearningRate = 0.1,
        Momentum = 0.9,
        Nesterov = true,
        WeightDecay = 5e-4,
        Schedule = "cosine",
        WarmupEpochs = 0.3,
        Augment = false,
        Seed = 0,
    };

    public static Command Create(CliConsole console)
    {
        var output = Options.Make("--out", "Where to save the trained model.", Path.Combine(Path.GetTempPath(), "circumvent-demo.safetensors"));
        var epochs = Options.Make("--epochs", "Training epochs.", Recipe.Epochs);
        var data = Options.Make("--data", "Fashion-MNIST location as fashion-mnist[:PATH].", Recipe.Data);
        var command = new Command("demo", "Train cnn-small on Fashion-MNIST and report its test accuracy.") { output, epochs, data };
        command.SetAction(parse =>
        {
            var spec = DatasetSpec.Parse(parse.GetValue(data) ?? Recipe.Data);
            if (spec.Kind != "fashion-mnist")
                throw new UsageException($"demo --data must be fashion-mnist[:PATH], got '{spec.Kind}'.");
            string folder = spec.Path;
            if (!Directory.Exists(folder) || !Directory.EnumerateFiles(folder, "train-images-idx3-ubyte*").Any())
            {
                console.Error.WriteLine($"circumvent: Fashion-MNIST not found in '{folder}'; install it with `apt-get install dataset-fashion-mnist` (or pass --data fashion-mnist:PATH).");
                return Program.BadInput;
            }
            var config = Recipe with { Data = $"fashion-mnist:{folder}", Epochs = parse.GetValue(epochs) };
            var clock = Stopwatch.StartNew();
            var run = TrainingRun.Execute(config, parse.GetValue(output)!, console);
            console.Out.WriteLine($"demo: cnn-small (width {config.WidthMultiplier}) reached {run.TestAccuracy * 100:F2}% test accuracy on Fashion-MNIST in {clock.Elapsed.TotalSeconds:F0} s; model saved to {run.OutputPath}");
            return 0;
        });
        return command;
    }
}
