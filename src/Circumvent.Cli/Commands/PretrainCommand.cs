using System.CommandLine;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent pretrain --method simclr`: self-supervised pre-training of an encoder (resumable), its kNN accuracy on
/// the dataset's test split, and an encoder checkpoint (encoder "f.*" and projection head "g.*", role "encoder").
/// </summary>
internal static class PretrainCommand
{
    public static readonly string[] Methods = ["simclr"];

    public static Command Create(CliConsole console)
    {
        var defaults = SimClrPretraining.Defaults;
        var knnDefaults = new SimClrPretraining.Settings();
        var method = Options.Make("--method", "Self-supervised method: simclr.", "simclr");
        var arch = Options.Make("--arch", "Encoder: a built-in network without its classifier head (resnet18, preact-resnet18, vgg11/16/19, cnn-small).", defaults.Architecture);
        var data = Options.Required("--data", "Dataset as KIND[:PATH], e.g. cifar10:/data/cifar10 (colour images; labels are used only by the kNN report).");
        var output = Options.Required("--out", "Encoder checkpoint to write (.safetensors, or .pth/.pt); written only when pre-training succeeds.");
        var epochs = Options.Make("--epochs", "Pre-training epochs.", defaults.Epochs);
        var lr = Options.Make("--lr", "Learning rate.", defaults.LearningRate);
        var batchSize = Options.Make("--batch-size", "Images per batch (each seen in two views).", defaults.BatchSize);
        var weightDecay = Options.Make("--weight-decay", "Weight decay.", defaults.WeightDecay);
        var optimizer = Options.Make("--optimizer", "sgd, adam or adamw.", defaults.Optimizer);
        var schedule = Options.Make("--schedule", "Learning-rate schedule: cosine, step or none.", defaults.Schedule);
        var width = Options.Make("--width", "Encoder channel-width multiplier.", defaults.WidthMultiplier);
        var seed = Options.Make("--seed", "Seed for initialisation, shuffling and augmentation.", defaults.Seed);
        var limit = Options.Make("--limit-train", "Pre-train on a seeded random subset of N images (0 = all); they are also the kNN memory.", defaults.LimitTrain);
        var limitTest = Options.Make("--limit-test", "kNN on the first N test images (0 = all).", knnDefaults.LimitTest);
        var temperature = Options.Make("--temperature", "NT-Xent temperature τ.", (double)knnDefaults.Temperature);
        var knnK = Options.Make("--knn-k", "Neighbours of the kNN report.", knnDefaults.KnnK);
        var knnTemperature = Options.Make("--knn-temperature", "Vote temperature of the kNN report.", (double)knnDefaults.KnnTemperature);

        var command = new Command("pretrain", "Pre-train an encoder without labels (SimCLR) and report its kNN accuracy.")
        {
            method, arch, data, output, epochs, lr, batchSize, weightDecay, optimizer, schedule, width, seed, limit, limitTest,
            temperature, knnK, knnTemperature,
        };
        command.SetAction(parse =>
        {
            string chosen = (parse.GetValue(method) ?? "").ToLowerInvariant();
            if (!Methods.Contains(chosen)) throw new UsageException($"--method must be one of {string.Join(", ", Methods)}, got '{parse.GetValue(method)}'.");
            new CommandFiles().Writes("--out", parse.Value(output), CheckpointFiles.OutputExtensions).Check();
            var config = defaults with
            {
                Architecture = parse.GetValue(arch) ?? defaults.Architecture,
                Data = parse.Value(data),
                Epochs = parse.GetValue(epochs),
                LearningRate = parse.GetValue(lr),
                BatchSize = parse.GetValue(batchSize),
                WeightDecay = parse.GetValue(weightDecay),
                Optimizer = (parse.GetValue(optimizer) ?? "").ToLowerInvariant(),
                Schedule = (parse.GetValue(schedule) ?? "").ToLowerInvariant(),
                WidthMultiplier = parse.GetValue(width),
                Seed = parse.GetValue(seed),
                LimitTrain = parse.GetValue(limit),
            };
            var settings = new SimClrPretraining.Settings((float)parse.GetValue(temperature), parse.GetValue(knnK), (float)parse.GetValue(knnTemperature), parse.GetValue(limitTest));
            var run = SimClrPretraining.Run(config, settings, parse.Value(output), console.Cancellation,
                (header, trainer, train) => ProgressView.Run(console, header, trainer, train), console.Out.WriteLine);
            console.Out.WriteLine($"kNN accuracy {run.KnnAccuracy * 100:F2}% (k {settings.KnnK}, T {settings.KnnTemperature:g}) after {config.Epochs} epochs " +
                $"({run.ComputeSeconds:F0} s); saved {run.OutputPath} (role {SimClrPretraining.EncoderRole})");
            return 0;
        });
        return command;
    }
}
