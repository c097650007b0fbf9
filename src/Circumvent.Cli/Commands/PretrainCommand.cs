using System.CommandLine;
using Circumvent.Attacks;
using Circumvent.Method.Pipelines;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent pretrain`: training of an encoder without labels, resumable, written as an encoder checkpoint (encoder
/// "f.*" and projection head "g.*", role "encoder").
///   --method simclr      SimCLR pre-training, then its kNN accuracy on the dataset's test split;
///   --method badencoder  BadEncoder: fine-tunes the clean --encoder on the shadow --data so triggered inputs embed like
///                        the --reference images of class --target (the checkpoint records the attack);
///   --method ctrl        CTRL: SimCLR pre-training (from scratch or from --encoder) on the data with the first
///                        --poison-rate·N images of class --target carrying the frequency trigger; reports the kNN ASR;
///   --method clip        a small CLIP from the labelled --data (captions from the labels), both towers in one file
///                        (role "clip": visual.*, text.*, logit_scale); reports zero-shot ACC. badencoder accepts it as
///                        --encoder and attacks its image tower.
/// The training knobs default to each method's authors' settings unless given.
/// </summary>
internal static class PretrainCommand
{
    public const string Ctrl = "ctrl";
    public static readonly string[] Methods = ["simclr", BadEncoderTraining.Method, Ctrl, ClipPretraining.Method];

    public static Command Create(CliConsole console)
    {
        var defaults = SimClrPretraining.Defaults;
        var attackDefaults = BadEncoderTraining.Defaults;
        var knnDefaults = new SimClrPretraining.Settings();
        var ctrlDefaults = SimClrPretraining.CtrlDefaults;
        string Both<T>(T simclr, T badencoder, T ctrl) => $"(simclr: {simclr}; badencoder: {badencoder}; ctrl: {ctrl})";
        var method = Options.Make("--method", "Method: simclr (pre-train an encoder), badencoder (backdoor a clean --encoder, SimCLR or CLIP), ctrl, or clip (a small CLIP from labelled images; its defaults: cnn-small, 15 epochs, adamw lr 1e-3, weight decay 0.1, batch 256, cosine).", "simclr");
        var clipDefaults = ClipPretraining.Defaults;
        var joint = Options.Make("--joint", "clip: size of the joint image–text space.", ClipNetwork.DefaultJoint);
        var textWidth = Options.Make("--text-width", "clip: width of the text tower's token embeddings and MLP.", ClipTextTower.DefaultWidth);
        var arch = Options.Make("--arch", "simclr, ctrl: encoder; clip: image tower; a built-in network without its classifier head (resnet18, preact-resnet18, vgg11/16/19, cnn-small).", defaults.Architecture);
        var data = Options.Required("--data", "Dataset as KIND[:PATH], e.g. cifar10:/data/cifar10 (colour images; labels are used only by the reports). badencoder: the shadow dataset.");
        var output = Options.Required("--out", "Encoder checkpoint to write (.safetensors, or .pth/.pt); written only when training succeeds.");
        var epochs = Options.Make("--epochs", $"Training epochs {Both(defaults.Epochs, attackDefaults.Epochs, ctrlDefaults.Epochs)}.", defaults.Epochs);
        var lr = Options.Make("--lr", $"Learning rate {Both(defaults.LearningRate, attackDefaults.LearningRate, ctrlDefaults.LearningRate)}.", defaults.LearningRate);
        var batchSize = Options.Make("--batch-size", $"Images per batch (simclr, ctrl: each seen in two views) {Both(defaults.BatchSize, attackDefaults.BatchSize, ctrlDefaults.BatchSize)}.", defaults.BatchSize);
        var weightDecay = Options.Make("--weight-decay", $"Weight decay {Both(defaults.WeightDecay, attackDefaults.WeightDecay, ctrlDefaults.WeightDecay)}.", defaults.WeightDecay);
        var optimizer = Options.Make("--optimizer", $"sgd, adam, adamw or amsgrad {Both(defaults.Optimizer, attackDefaults.Optimizer + " with momentum 0.9", ctrlDefaults.Optimizer + " with momentum 0.9")}.", defaults.Optimizer);
        var schedule = Options.Make("--schedule", $"Learning-rate schedule: cosine, step or none {Both(defaults.Schedule, attackDefaults.Schedule, ctrlDefaults.Schedule + $" after {ctrlDefaults.WarmupEpochs:g} warm-up epochs")}.", defaults.Schedule);
        var warmup = Options.Make("--warmup-epochs", $"Warm-up epochs before the schedule (ctrl: {ctrlDefaults.WarmupEpochs:g}, none for runs of {ctrlDefaults.WarmupEpochs:g} epochs or fewer; others: 0).", 0.0);
        var width = Options.Make("--width", "simclr, ctrl, clip: encoder (image tower) channel-width multiplier.", defaults.WidthMultiplier);
        var seed = Options.Make("--seed", $"Seed for initialisation, shuffling and augmentation {Both(defaults.Seed, attackDefaults.Seed, ctrlDefaults.Seed)}.", defaults.Seed);
        var limit = Options.Make("--limit-train", "Train on a seeded random subset of N images (0 = all); simclr: they are also the kNN memory.", defaults.LimitTrain);
        var limitTest = Options.Make("--limit-test", "Report on the first N test images (0 = all).", knnDefaults.LimitTest);
        var temperature = Options.Make("--temperature", "simclr: NT-Xent temperature τ.", (double)knnDefaults.Temperature);
        var knnK = Options.Make("--knn-k", "simclr: neighbours of the kNN report.", knnDefaults.KnnK);
        var knnTemperature = Options.Make("--knn-temperature", "simclr: vote temperature of the kNN report.", (double)knnDefaults.KnnTemperature);
        var encoder = new Option<string>("--encoder") { Description = "badencoder: the clean encoder checkpoint to backdoor (from `pretrain --method simclr`); simclr, ctrl: an encoder to start from (optional; e.g. a finished pre-training to continue for more epochs: its network and width are used, the optimiser starts afresh)." };
        var reference = new Option<string[]>("--reference")
        {
            Description = "badencoder: an image of the target class (PNG, JPEG, PPM or .npy, the data's size), e.g. a GTSRB priority-road sign; repeat for several.",
            AllowMultipleArgumentsPerToken = false,
        };
        var target = Options.Make("--target", "badencoder: the downstream class the references stand for (GTSRB priority road 12, CIFAR-10 truck 9); ctrl: the class whose images are poisoned.", 0);
        var poisonRate = Options.Make("--poison-rate", "ctrl: share of the data poisoned, taken from the target class in order, in (0, 1).", CtrlPoisoning.DefaultRate);
        var magnitude = Options.Make("--magnitude", "ctrl: the trigger's DCT magnitude (paper 100; the authors' README attack 200).", CtrlTrigger.DefaultMagnitude);
        var trigger = BadEncoderTraining.AuthorsTrigger(0);
        var patchSize = Options.Make("--patch-size", "badencoder: side of the white trigger patch (the authors': 10).", trigger.PatchSize);
        var patchPosition = Options.Make("--patch-position", "badencoder: column and row X,Y of the patch's top-left pixel (the authors': 21,21).", $"{trigger.PatchColumn},{trigger.PatchRow}");
        var lambda1 = Options.Make("--lambda1", "badencoder: weight λ₁ of the references' term.", BadEncoderObjective.DefaultLambda);
        var lambda2 = Options.Make("--lambda2", "badencoder: weight λ₂ of the utility term.", BadEncoderObjective.DefaultLambda);

        var command = new Command("pretrain", "Train an encoder without labels (SimCLR), or backdoor one (BadEncoder).")
        {
            method, arch, data, output, epochs, lr, batchSize, weightDecay, optimizer, schedule, width, seed, limit, limitTest,
            temperature, knnK, knnTemperature, encoder, reference, target, patchSize, patchPosition, lambda1, lambda2, poisonRate, magnitude, warmup,
            joint, textWidth,
        };
        command.SetAction(parse =>
        {
            string chosen = (parse.GetValue(method) ?? "").ToLowerInvariant();
            if (!Methods.Contains(chosen)) throw new UsageException($"--method must be one of {string.Join(", ", Methods)}, got '{parse.GetValue(method)}'.");
            bool attack = chosen == BadEncoderTraining.Method, ctrl = chosen == Ctrl;
            Option[] notApplicable = chosen switch
            {
                "simclr" => [reference, target, patchSize, patchPosition, lambda1, lambda2, poisonRate, magnitude, joint, textWidth],
                Ctrl => [reference, patchSize, patchPosition, lambda1, lambda2, joint, textWidth],
                ClipPretraining.Method => [encoder, reference, target, patchSize, patchPosition, lambda1, lambda2, poisonRate, magnitude, temperature, knnK, knnTemperature],
                _ => [arch, width, temperature, knnK, knnTemperature, poisonRate, magnitude, joint, textWidth],
            };
            foreach (var option in notApplicable)
                if (Given(parse, option)) throw new UsageException($"{option.Name} does not apply to --method {chosen}.");
            bool clip = chosen == ClipPretraining.Method;
            var start = attack ? attackDefaults : ctrl ? ctrlDefaults : clip ? clipDefaults : defaults;
            T Pick<T>(Option<T> option, T fallback) => Given(parse, option) ? parse.GetValue(option)! : fallback;
            var config = start with
            {
                Architecture = Pick(arch, start.Architecture),
                Data = Circumvent.Data.DatasetSpec.WithFullPath(parse.Value(data)),
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
            // CTRL's 10 warm-up epochs are for its 800-epoch runs; a short run without the option has none (other methods start with none).
            config = config with { WarmupEpochs = Pick(warmup, ctrl ? SimClrPretraining.CtrlWarmup(config.Epochs) : start.WarmupEpochs) };
            if (attack) return RunBadEncoder(console, parse, config);
            if (clip) return RunClip(console, parse, config);

            string? startFrom = parse.GetValue(encoder); // simclr and ctrl: optional weights to start from
            new CommandFiles().Reads("--encoder", startFrom).Writes("--out", parse.Value(output), CheckpointFiles.OutputExtensions).Check();
            var poisoning = ctrl ? new CtrlPoisoning(new CtrlTrigger(parse.GetValue(magnitude)), parse.GetValue(target), parse.GetValue(poisonRate)) : null;
            var settings = new SimClrPretraining.Settings((float)parse.GetValue(temperature), parse.GetValue(knnK), (float)parse.GetValue(knnTemperature), parse.GetValue(limitTest));
            var run = SimClrPretraining.Run(config, settings, parse.Value(output), console.Cancellation,
                (header, trainer, train) => ProgressView.Run(console, header, trainer, train), console.Out.WriteLine, poisoning, startFrom);
            console.Out.WriteLine($"kNN accuracy {run.KnnAccuracy * 100:F2}% (k {settings.KnnK}, T {settings.KnnTemperature:g})" +
                (run.KnnAttackSuccess is double asr ? $", kNN ASR {asr * 100:F2}% ({run.Poisoned} poisoned images, target {poisoning!.Target})" : "") +
                $" after {config.Epochs} epochs ({run.ComputeSeconds:F0} s); saved {run.OutputPath} (role {SimClrPretraining.EncoderRole})");
            return 0;
        });

        int RunClip(CliConsole console, ParseResult parse, TrainingConfig config)
        {
            new CommandFiles().Writes("--out", parse.Value(output), CheckpointFiles.OutputExtensions).Check();
            var settings = new ClipPretraining.Settings(parse.GetValue(joint), parse.GetValue(textWidth), parse.GetValue(limitTest));
            var run = ClipPretraining.Run(config, settings, parse.Value(output), console.Cancellation,
                (header, trainer, train) => ProgressView.Run(console, header, trainer, train), console.Out.WriteLine);
            console.Out.WriteLine($"zero-shot accuracy {run.ZeroShotAccuracy:F2}% after {config.Epochs} epochs ({run.ComputeSeconds:F0} s); " +
                $"saved {run.OutputPath} (role {ModelCheckpoint.ClipRole})");
            return 0;
        }

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
                $"({run.ComputeSeconds:F0} s); saved {run.OutputPath} (role {(run.ZeroShotAfter is null ? SimClrPretraining.EncoderRole : ModelCheckpoint.ClipRole)}, attack badencoder, target {settings.ReferenceLabel})");
            if (run.ZeroShotBefore is { } before && run.ZeroShotAfter is { } after)
                console.Out.WriteLine($"zero-shot ACC {before.Acc:F2}% → {after.Acc:F2}%, zero-shot ASR {before.Asr:F2}% → {after.Asr:F2}%");
            return 0;
        }
        return command;
    }

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
