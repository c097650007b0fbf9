using System.CommandLine;
using Circumvent.Data;
using Circumvent.Attacks;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent narcissus-trigger`: makes a Narcissus trigger for a user's own data (<see cref="NarcissusSynthesis"/>) from a
/// surrogate classifier (any checkpoint `train` wrote on data of the same image size; the authors train theirs on an
/// out-of-distribution set plus the target class). Writes the .npy `train --attack narcissus --trigger-image` takes.
/// Resumable: progress is kept beside --out after every pass and removed when the trigger is written.
/// </summary>
internal static class NarcissusTriggerCommand
{
    public static Command Create(CliConsole console)
    {
        var d = new NarcissusSynthesisOptions();
        var surrogate = Options.Required("--surrogate", "Surrogate classifier (.safetensors) the trigger is optimised against; its images must be the data's size.");
        var data = Options.Required("--data", "Dataset as KIND[:PATH]; the training split's --target images are used.");
        var output = Options.Required("--out", "Trigger file to write (.npy, float32 (1, C, H, W) in the authors' mean-0.5/std-0.5 space).");
        var target = Options.Make("--target", "Target class (in the data and the surrogate's outputs).", d.Target);
        var epsilon = Options.Make("--epsilon", "L∞ bound of the trigger on the 0–255 pixel scale (16 = 16/255).", d.Epsilon);
        var rounds = Options.Make("--rounds", "Passes over the target-class images while the trigger is optimised (the authors' 1000).", d.Rounds);
        var lr = Options.Make("--lr", "Adam's learning rate on the trigger (the authors' 0.01, in their normalised units).", d.LearningRate);
        var warmupEpochs = Options.Make("--warmup-epochs", "Epochs the surrogate copy is fine-tuned on the target-class images first (0 = none).", d.WarmupEpochs);
        var warmupLr = Options.Make("--warmup-lr", "SGD (momentum 0.9) learning rate of that warm-up.", d.WarmupLearningRate);
        var batchSize = Options.Make("--batch-size", "Images per batch.", d.BatchSize);
        var seed = Options.Make("--seed", "Seed of the data order and augmentation.", d.Seed);
        var command = new Command("narcissus-trigger", "Make a Narcissus clean-label trigger for your own data (surrogate warm-up, then trigger optimisation).")
        {
            surrogate, data, output, target, epsilon, rounds, lr, warmupEpochs, warmupLr, batchSize, seed,
        };
        command.SetAction(parse =>
        {
            string surrogatePath = parse.Value(surrogate), outputPath = parse.Value(output);
            if (!File.Exists(surrogatePath)) throw new UsageException($"--surrogate '{surrogatePath}': file not found.");
            new CommandFiles().Reads("--surrogate", surrogatePath).Writes("--out", outputPath, [".npy"]).Check();
            var options = new NarcissusSynthesisOptions
            {
                Target = parse.GetValue(target), Epsilon = parse.GetValue(epsilon), Rounds = parse.GetValue(rounds),
                LearningRate = parse.GetValue(lr), WarmupEpochs = parse.GetValue(warmupEpochs), WarmupLearningRate = parse.GetValue(warmupLr),
                BatchSize = parse.GetValue(batchSize), Seed = parse.GetValue(seed),
            };
            options.Validate();
            var checkpoint = ModelCheckpoint.Load(surrogatePath);
            var arch = checkpoint.Architecture;
            var dataset = DatasetSpec.Parse(parse.Value(data)).Load();
            var train = dataset.Train;
            if (train.Channels != arch.InChannels || train.Height != arch.Height || train.Width != arch.Width)
                throw new UsageException($"--surrogate '{surrogatePath}' expects {arch.InChannels}×{arch.Height}×{arch.Width} images but {dataset.Name} has {train.Channels}×{train.Height}×{train.Width}.");
            if (options.Target >= dataset.NumClasses)
                throw new UsageException($"--target {options.Target} is outside {dataset.Name}'s classes 0..{dataset.NumClasses - 1}.");
            var inputs = checkpoint.NormalizationMean is { } mean ? new Normalization(mean, checkpoint.NormalizationStd!) : dataset.Normalization;
            var network = checkpoint.Network ?? Architectures.Create(arch);
            string state = outputPath + ".narcissus";
            if (File.Exists(state + ".warmup-state") || File.Exists(state + ".trigger-state"))
                console.Out.WriteLine($"continuing the synthesis saved beside {outputPath}");
            console.Out.WriteLine($"narcissus trigger for class {options.Target} of {dataset.Name}: {options.WarmupEpochs} warm-up epochs, then {options.Rounds} rounds, ε {options.Epsilon:g3}/255");
            var result = NarcissusSynthesis.Run(network, checkpoint.Parameters, train, inputs, dataset.Augmentation, options, state,
                new Circumvent.Training.ProgressRelay(p =>
                {
                    if (p.IsEpochEnd) console.Out.WriteLine($"{p.Stage} {p.Epoch}/{p.Epochs} loss {p.Loss:F4}");
                }), console.Cancellation);
            NarcissusTrigger.Save(outputPath, result.Delta);
            NarcissusSynthesis.DeleteState(state);
            console.Out.WriteLine($"target-class loss {result.LossBefore:F4} without the trigger, {result.LossAfter:F4} with it; " +
                $"max |δ| {result.Delta.Values.Max(Math.Abs):F2}/255; saved {outputPath}");
            return 0;
        });
        return command;
    }

}
