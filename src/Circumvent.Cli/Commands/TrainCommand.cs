using Circumvent.Method.Attacks;
using System.CommandLine;
using Circumvent.Attacks;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>`circumvent train`: trains a network on a dataset and writes a checkpoint that records its config.</summary>
internal static class TrainCommand
{
    public static Command Create(CliConsole console)
    {
        var defaults = new TrainingConfig();
        var arch = new Option<string?>("--arch") { Description = "Built-in architecture: mlp, cnn-small, vgg11, vgg16, vgg19, preact-resnet18, resnet18, airnet." };
        var description = new DescriptionOption("Or a network described in a file (JSON or YAML; see README, 'Your own architecture').");
        var data = Options.Required("--data", $"Dataset as KIND[:PATH], KIND one of {string.Join(", ", Circumvent.Data.DatasetSpec.KnownKinds)}; e.g. cifar10:/data/cifar10 or imagefolder:photos (photos/train/CLASS/*.png, photos/test/CLASS/*.png).");
        var output = Options.Required("--out", "Checkpoint to write (.safetensors, or .pth/.pt for PyTorch's format); written only when training succeeds.");
        var epochs = Options.Make("--epochs", "Training epochs; may be fractional (9.9: the last epoch cut at ⌈9.9·batches⌉ steps).", defaults.Epochs);
        var lr = Options.Make("--lr", "Peak learning rate.", defaults.LearningRate);
        var batchSize = Options.Make("--batch-size", "Mini-batch size.", defaults.BatchSize);
        var momentum = Options.Make("--momentum", "SGD momentum (Nesterov when > 0).", defaults.Momentum);
        var weightDecay = Options.Make("--weight-decay", "Weight decay (L2 for sgd/adam, decoupled for adamw).", defaults.WeightDecay);
        var optimizer = Options.Make("--optimizer", "sgd, adam, adamw or amsgrad (Adam with torch's amsgrad flag).", defaults.Optimizer);
        var schedule = Options.Make("--schedule", "Learning-rate schedule: cosine, step, triangle or none.", defaults.Schedule);
        var warmup = Options.Make("--warmup-epochs", "Linear warm-up length in epochs (may be fractional).", defaults.WarmupEpochs);
        var stepEpochs = Options.Make("--lr-step-epochs", "Step schedule: decay every this many epochs.", defaults.StepEpochs);
        var gamma = Options.Make("--lr-gamma", "Step schedule: decay factor.", defaults.StepGamma);
        var smoothing = Options.Make("--label-smoothing", "Cross-entropy label smoothing in [0, 1).", defaults.LabelSmoothing);
        var width = Options.Make("--width", "Channel-width multiplier (1 = the published network).", defaults.WidthMultiplier);
        var seed = Options.Make("--seed", "Seed for initialisation, shuffling, augmentation and dropout.", defaults.Seed);
        var augment = new Option<bool>("--augment") { Description = "The dataset's augmentation (default): random crop, plus horizontal flip for CIFAR-10 and Fashion-MNIST, not for MNIST digits." };
        var noAugment = new Option<bool>("--no-augment") { Description = "Train on the images as they are." };
        var limit = Options.Make("--limit-train", "Train on a seeded random subset of N images (0 = all).", defaults.LimitTrain);
        var recipeOptions = new RecipeOptions();
        var attackOptions = AttackOptions.ForTraining();
        var adaptiveDefaults = new AdaptiveTscOptions();
        var adaptive = new Option<bool>("--adaptive-tsc") { Description = "After training, run the adaptive attack against TSC (paper Algorithm 4) and save its result; needs --attack." };
        var adaptiveEpochs = Options.Make("--adaptive-epochs", "Adaptive attack: epochs of whole-curve training.", adaptiveDefaults.Epochs);
        var adaptiveLr = Options.Make("--adaptive-lr", "Adaptive attack: peak learning rate (cosine) of whole-curve training.", adaptiveDefaults.LearningRate);

        var command = new Command("train", "Train a classifier and save it as a safetensors checkpoint.")
        {
            arch, data, output, epochs, lr, batchSize, momentum, weightDecay, optimizer, schedule, warmup,
            stepEpochs, gamma, smoothing, width, seed, augment, noAugment, limit, adaptive, adaptiveEpochs, adaptiveLr,
        };
        recipeOptions.AddTo(command);
        attackOptions.AddTo(command);
        description.AddTo(command);
        var normalize = new NormalizeOption();
        normalize.AddTo(command);
        command.SetAction(parse =>
        {
            new CommandFiles().Reads(attackOptions.Files(parse)).Reads([description.File(parse)])
                .Writes("--out", parse.Value(output), CheckpointFiles.OutputExtensions).Check();
            if ((parse.GetValue(arch) is null) == !description.IsGiven(parse))
                throw new UsageException("give either --arch NAME or --description FILE (one of them).");
            var described = description.Parse(parse);
            if (described is not null && parse.GetValue(width) != 1.0)
                throw new UsageException($"--width does not apply to --description: the description fixes every layer's size.");
            if (parse.GetValue(augment) && parse.GetValue(noAugment))
                throw new UsageException("--augment and --no-augment contradict each other; give one.");
            var attack = attackOptions.Parse(parse);
            // A --recipe replaces the defaults; whatever is given on the command line wins over both.
            var baseline = recipeOptions.Baseline(parse, defaults, batchSize, momentum);
            var config = recipeOptions.Apply(parse, baseline with
            {
                Architecture = parse.GetValue(arch) ?? described!.Name,
                Data = Circumvent.Data.DatasetSpec.WithFullPath(parse.Value(data)),
                Epochs = RecipeOptions.Pick(parse, epochs, baseline.Epochs),
                LearningRate = RecipeOptions.Pick(parse, lr, baseline.LearningRate),
                BatchSize = RecipeOptions.Pick(parse, batchSize, baseline.BatchSize),
                Momentum = RecipeOptions.Pick(parse, momentum, baseline.Momentum),
                WeightDecay = RecipeOptions.Pick(parse, weightDecay, baseline.WeightDecay),
                Optimizer = (RecipeOptions.Pick(parse, optimizer, baseline.Optimizer) ?? "").ToLowerInvariant(),
                Schedule = (RecipeOptions.Pick(parse, schedule, baseline.Schedule) ?? "").ToLowerInvariant(),
                WarmupEpochs = RecipeOptions.Pick(parse, warmup, baseline.WarmupEpochs),
                StepEpochs = RecipeOptions.Pick(parse, stepEpochs, baseline.StepEpochs),
                StepGamma = RecipeOptions.Pick(parse, gamma, baseline.StepGamma),
                LabelSmoothing = RecipeOptions.Pick(parse, smoothing, baseline.LabelSmoothing),
                WidthMultiplier = parse.GetValue(width),
                Seed = parse.GetValue(seed),
                Augment = !parse.GetValue(noAugment) && (parse.GetValue(augment) || baseline.Augment),
                LimitTrain = parse.GetValue(limit),
            });
            var adaptiveOptions = AdaptiveOptions(parse, adaptive, adaptiveEpochs, adaptiveLr, config);
            var run = TrainingRun.Execute(config, parse.Value(output), console, attack, described, adaptiveOptions, normalize.Parse(parse));
            string tta = config.TtaLevel is > 0 ? $" (TTA level {config.TtaLevel})" : "";
            console.Out.WriteLine($"test accuracy {run.TestAccuracy * 100:F2}%{tta} after {config.Epochs:g4} epochs ({run.ComputeSeconds:F0} s); saved {run.OutputPath}");
            if (run.Backdoor is { Asr: { } asr, Ra: { } ra })
            {
                string perEpoch = run.Attack?.Generators is null ? "" : " per epoch";
                console.Out.WriteLine($"{attack!.Kind} backdoor ({run.PoisonedCount} poisoned samples{perEpoch}, target {attack.Target}): attack success rate {asr:F2}%{AllImages(run.Backdoor)}, robust accuracy {ra:F2}%");
            }
            if (run.Attack?.Generators is { } generators) console.Out.WriteLine($"input-aware trigger networks saved to {generators}");
            if (run.Attack?.Encoder is { } encoder) console.Out.WriteLine($"ssba encoder: {encoder} (SHA-256 {run.Attack.EncoderSha256})");
            return 0;
        });
        return command;
    }

    /// <summary>" (87.10% of all test images)": ASR counted as other tools do (see README, "ASR").</summary>
    private static string AllImages(Circumvent.Method.Evaluation.BackdoorScores scores) =>
        scores.AsrAll is { } all ? $" ({all:F2}% of all test images)" : "";

    /// <summary>
    /// The adaptive attack's settings when --adaptive-tsc is given (null otherwise); its knobs alone are an
    /// error. The pipeline checks the values and that an attack is given.
    /// </summary>
    private static AdaptiveTscOptions? AdaptiveOptions(ParseResult parse, Option<bool> adaptive, Option<int> epochs, Option<double> lr, TrainingConfig config)
    {
        if (!parse.GetValue(adaptive))
        {
            foreach (Option knob in new Option[] { epochs, lr })
                if (parse.GetResult(knob) is { Implicit: false }) throw new UsageException($"{knob.Name} needs --adaptive-tsc.");
            return null;
        }
        return AdaptiveTscOptions.Matching(config) with { Epochs = parse.GetValue(epochs), LearningRate = parse.GetValue(lr) };
    }
}
