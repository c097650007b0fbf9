using System.CommandLine;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent pretrain`: training of an encoder without labels, resumable, written as an encoder checkpoint (encoder
/// "f.*" and projection head "g.*", role "encoder").
///   --method simclr      SimCLR pre-training, then its kNN accuracy on the dataset's test split;
///   --method badencoder  BadEncoder: fine-tunes the clean --encoder on the shadow --data so triggered inputs embed like
///                        the --reference images of class --target (the checkpoint records the attack).
/// The training knobs default to each method's authors' settings unless given.
/// </summary>
internal static class PretrainCommand
{
    public static readonly string[] Methods = ["simclr", BadEncoderTraining.Method];

    public static Command Create(CliConsole console)
    {
        var defaults = SimClrPretraining.Defaults;
        var attackDefaults = BadEncoderTraining.Defaults;
        var knnDefaults = new SimClrPretraining.Settings();
        string Both<T>(T simclr, T badencoder) => $"(simclr: {simclr}; badencoder: {badencoder})";
        var method = Options.Make("--method", "Method: simclr (pre-train an encoder) or badencoder (backdoor a clean --encoder).", "simclr");
        var arch = Options.Make("--arch", "simclr: encoder, a built-in network without its classifier head (resnet18, preact-resnet18, vgg11/16/19, cnn-small).", defaults.Architecture);
        var data = Options.Required("--data", "Dataset as KIND[:PATH], e.g. cifar10:/data/cifar10 (colour images; labels are used only by the reports). badencoder: the shadow dataset.");
        var output = Options.Required("--out", "Encoder checkpoint to write (.safetensors, or .pth/.pt); written only when training succeeds.");
        var epochs = Options.Make("--epochs", $"Training epochs {Both(defaults.Epochs, attackDefaults.Epochs)}.", defaults.Epochs);
        var lr = Options.Make("--lr", $"Learning rate {Both(defaults.LearningRate, attackDefaults.LearningRate)}.", defaults.LearningRate);
        var batchSize = Options.Make("--batch-size", "Images per batch (simclr: each seen in two views).", defaults.BatchSize);
        var weightDecay = Options.Make("--weight-decay", $"Weight decay {Both(defaults.WeightDecay, attackDefaults.WeightDecay)}.", defaults.WeightDecay);
        var optimizer = Options.Make("--optimizer", $"sgd, adam or adamw {Both(defaults.Optimizer, attackDefaults.Optimizer + " with momentum 0.9")}.", defaults.Optimizer);
        var schedule = Options.Make("--schedule", "Learning-rate schedule: cosine, step or none.", defaults.Schedule);
        var width = Options.Make("--width", "simclr: encoder channel-width multiplier.", defaults.WidthMultiplier);
        var seed = Options.Make("--seed", $"Seed for initialisation, shuffling and augmentation {Both(defaults.Seed, attackDefaults.Seed)}.", defaults.Seed);
        var limit = Options.Make("--limit-train", "Train on a seeded random subset of N images (0 = all); simclr: they are also the kNN memory.", defaults.LimitTrain);
        var limitTest = Options.Make("--limit-test", "Report on the first N test images (0 = all).", knnDefaults.LimitTest);
        var temperature = Options.Make("--temperature", "simclr: NT-Xent temperature τ.", (double)knnDefaults.Temperature);
        var knnK = Options.Make("--knn-k", "simclr: neighbours of the kNN report.", knnDefaults.KnnK);
        var knnTemperature = Options.Make("--knn-temperature", "simclr: vote temperature of the kNN report.", (double)knnDefaults.KnnTemperature);
        var encoder = new Option<string>("--encoder") { Description = "badencoder: the clean encoder checkpoint to backdoor (from `pretrain --method simclr`)." };
        var reference = new Option<string[]>("--reference")
        {
            Description = "badencoder: an image of the target class (PNG, JPEG, PPM or .npy, the data's size), e.g. a GTSRB priority-road sign; repeat for several.",
            AllowMultipleArgumentsPerToken = false,
        };
        var target = Options.Make("--target", "badencoder: the downstream class the references stand for (GTSRB priority road 12, CIFAR-10 truck 9).", 0);
        var trigger = BadEncoderTraining.AuthorsTrigger(0);
        var patchSize = Options.Make("--patch-size", "badencoder: side of the white trigger patch (the authors': 10).", trigger.PatchSize);
        var patchPosition = Options.Make("--patch-position", "badencoder: column and row X,Y of the patch's top-left pixel (the authors': 21,21).", $"{trigger.PatchColumn},{trigger.PatchRow}");
        var lambda1 = Options.Make("--lambda1", "badencoder: weight λ₁ of the references' term.", BadEncoderObjective.DefaultLambda);
        var lambda2 = Options.Make("--lambda2", "badencoder: weight λ₂ of the utility term.", BadEncoderObjective.DefaultLambda);

        var command = new Command("pretrain", "Train an encoder without labels (SimCLR), or backdoor one (BadEncoder).")
        {
            method, arch, data, output, epochs, lr, batchSize, weightDecay, optimizer, schedule, width, seed, limit, limitTest,
            temperature, knnK, knnTemperature, encoder, reference, target, patchSize, patchPosition, lambda1, lambda2,
        };
        command.SetAction(parse =>
        {
            string chosen = (parse.GetValue(method) ?? "").ToLowerInvariant();
            if (!Methods.Contains(chosen)) throw new UsageException($"--method must be one of {string.Join(", ", Methods)}, got '{parse.GetValue(method)}'.");
            bool attack = chosen == BadEncoderTraining.Method;
            Option[] attackOnly = [encoder, reference, target, patchSize, patchPosition, lambda1, lambda2];
            Option[] simclrOnly = [arch, width, temperature, knnK, knnTemperature];
            foreach (var option in attack ? simclrOnly : attackOnly)
                if (Given(parse, option)) throw new UsageException($"{option.Name} does not apply to --method {chosen}.");
            var start = attack ? attackDefaults : defaults;
            T Pick<T>(Option<T> option, T fallback) => Given(parse, option) ? parse.GetValue(option)! : fallback;
            var config = start with
            {
                Architecture = Pick(arch, start.Architecture),
                Data = parse.Value(data),
                Epochs = Pick(epochs, start.Epochs),
                LearningRate = Pick(lr, start.LearningRate),
                BatchSize = Pick(batchSize, start.BatchSize),
                WeightDecay = Pick(weightDecay, start.WeightDecay),
                Optimizer = Pick(optimizer, start.Optimizer).ToLowerInvariant(),
                Schedule = Pick(schedule, start.Schedule).ToLowerInvariant(),
                WidthMultiplier = Pick(width, start.WidthMultiplier),
                Seed = Pick(seed, start.Seed),
                LimitTrain = Pick(limit, start.LimitTrain),
            };
            if (attack) return RunBadEncoder(console, parse, config);

            new CommandFiles().Writes("--out", parse.Value(output), CheckpointFiles.OutputExtensions).Check();
            var settings = new SimClrPretraining.Settings((float)parse.GetValue(temperature), parse.GetValue(knnK), (float)parse.GetValue(knnTemperature), parse.GetValue(limitTest));
            var run = SimClrPretraining.Run(config, settings, parse.Value(output), console.Cancellation,
                (header, trainer, train) => ProgressView.Run(console, header, trainer, train), console.Out.WriteLine);
            console.Out.WriteLine($"kNN accuracy {run.KnnAccuracy * 100:F2}% (k {settings.KnnK}, T {settings.KnnTemperature:g}) after {config.Epochs} epochs " +
                $"({run.ComputeSeconds:F0} s); saved {run.OutputPath} (role {SimClrPretraining.EncoderRole})");
            return 0;
        });

        int RunBadEncoder(CliConsole console, ParseResult parse, TrainingConfig config)
        {
            string encoderPath = parse.GetValue(encoder) is { Length: > 0 } e ? e : throw new UsageException("--method badencoder needs --encoder (the clean encoder checkpoint).");
            string[] references = parse.GetValue(reference) is { Length: > 0 } r ? r : throw new UsageException("--method badencoder needs --reference (an image of the target class).");
            var files = new CommandFiles().Reads("--encoder", encoderPath).Reads(references.Select(p => ("--reference", (string?)p)));
            files.Writes("--out", parse.Value(output), CheckpointFiles.OutputExtensions).Check();
            var position = PatchPosition.Apply(BadEncoderTraining.AuthorsTrigger(0), parse.GetValue(patchPosition));
            var settings = new BadEncoderTraining.Settings(encoderPath, references, parse.GetValue(target),
                position with { PatchSize = parse.GetValue(patchSize) }, parse.GetValue(lambda1), parse.GetValue(lambda2), parse.GetValue(limitTest));
            var run = BadEncoderTraining.Run(config, settings, parse.Value(output), console.Cancellation,
                (header, trainer, train) => ProgressView.Run(console, header, trainer, train), console.Out.WriteLine);
            console.Out.WriteLine($"triggered-to-reference cosine {run.Before.TriggeredToReference:F4} → {run.After.TriggeredToReference:F4}, " +
                $"clean-to-clean-encoder cosine {run.Before.CleanToCleanEncoder:F4} → {run.After.CleanToCleanEncoder:F4} after {config.Epochs} epochs " +
                $"({run.ComputeSeconds:F0} s); saved {run.OutputPath} (role {SimClrPretraining.EncoderRole}, attack badencoder, target {settings.ReferenceLabel})");
            return 0;
        }
        return command;
    }

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
