using Circumvent.Method.Defenses;
using Circumvent.Method.Pipelines;
using Circumvent.Method.Runs;
using Circumvent.Models.Checkpoints;
using System.CommandLine;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent purify`: removes a backdoor from a checkpoint with TSC (or a baseline) using a small
/// clean subset of the training set, prints ACC/ASR/RA before, per stage and after, and writes the
/// purified model plus an optional JSON report. Resumable through a run folder beside --out.
/// </summary>
internal static class PurifyCommand
{
    public static Command Create(CliConsole console)
    {
        var model = Options.Required("--model", "Backdoored checkpoint: .safetensors or a PyTorch .pth/.pt.");
        var data = Options.Required("--data", "Dataset as KIND[:PATH]; the clean subset comes from its training split, scores from its test split.");
        var output = Options.Required("--out", "Purified checkpoint to write: .safetensors, or .pth/.pt for PyTorch's format; written only when the run completes.");
        var report = new Option<string?>("--report") { Description = "Also write a JSON report (scores per stage, config, wall time) here (.json)." };
        var runFolder = new Option<string?>("--run-folder") { Description = "Where finished units are kept for resuming (default: OUT.run next to --out)." };
        var fraction = Options.Make("--clean-fraction", "Share of every class of the training set the defender holds (seeded by --seed).", 0.05);
        var seed = Options.Make("--seed", "Seed for the clean subset, permutations, curve t draws and shuffling.", 0);
        var defense = new DefenseKnobOptions();
        var retune = new Option<bool>("--retune")
        {
            Description = "After the defence, run the retuning attack (Min et al. 2024: 5 epochs on 2% of the training set with 5 poisoned images) and report its ASR, P-ASR.",
        };
        var qra = new Option<string?>("--qra")
        {
            Description = "A clean model of the same recipe (no poisoning): after the retuning attack (implied), run the query-based reactivation attack " +
                          "(Min et al. 2024: a generator of ε = 16/255 perturbations trained 50 epochs on 500 clean + 500 triggered images) and report its ASR on the purified and on this model.",
            HelpName = "CLEAN_MODEL",
        };
        var objective = Options.Make("--objective", "What curves and fine-tuning minimise: supervised (a classifier's cross-entropy) simclr (an encoder's NT-Xent on two views, with the self-supervised defaults: TSC E 2, t 0.25, curves Adam 5e-3; fine-tuning Adam, TSC 5 epochs at 5e-5, MCR and FT 10 at 1e-4 as the authors' MCR), or clip (a CLIP model's image tower under the image-text InfoNCE against its frozen text tower, scored zero-shot: TSC E 2, t 0.25, curves Adam 1e-3 weight decay 0.2, no curve L2; MCR t 0.25, endpoint 20 epochs at 1e-3).", EncoderPurification.Supervised);
        var attack = AttackOptions.ForEvaluation();
        var modelOptions = new ModelOptions();
        var encoderOptions = new EncoderOptions();

        var command = new CommandWithMoreHelp("purify", "Remove a backdoor from a model (TSC or another defence) and report ACC/ASR/RA.", parse => defense.Help(parse, objective))
        {
            model, data, output, report, runFolder, fraction, seed, retune, qra, objective,
        };
        defense.AddTo(command);
        attack.AddTo(command);
        modelOptions.AddTo(command);
        encoderOptions.AddTo(command);
        command.SetAction(parse =>
        {
            string outPath = parse.Value(output);
            string runFolderPath = parse.GetValue(runFolder) ?? outPath + ".run";
            new CommandFiles().Reads("--model", parse.Value(model)).Reads("--qra", parse.GetValue(qra)).Reads(attack.Files(parse)).Reads(modelOptions.Files(parse))
                .Writes("--out", outPath, CheckpointFiles.OutputExtensions).Writes("--report", parse.GetValue(report), CommandFiles.Json)
                .WritesFolder("--run-folder", runFolderPath).Check();
            var modelLoad = modelOptions.Parse(parse);
            string chosen = (parse.GetValue(objective) ?? "").ToLowerInvariant();
            if (!EncoderPurification.Objectives.Contains(chosen))
                throw new UsageException($"--objective must be one of {string.Join(", ", EncoderPurification.Objectives)}, got '{parse.GetValue(objective)}'.");
            bool selfSupervised = chosen == EncoderPurification.SimClr;
            if (!selfSupervised && encoderOptions.AnyGiven(parse))
                throw new UsageException("--downstream and the --probe options score encoders; they need --objective simclr.");
            var settings = defense.Settings(parse);
            settings.SetObjective(chosen);
            if (selfSupervised && !settings.IsOn(TrainingKnobs.AugmentField))
                throw new UsageException("--no-augment does not apply to --objective simclr: its loss compares two augmented views.");
            var request = new PurificationRequest(
                ModelPath: parse.Value(model),
                Data: Circumvent.Data.DatasetSpec.WithFullPath(parse.Value(data)),
                OutputPath: outPath,
                ReportPath: parse.GetValue(report),
                RunFolder: runFolderPath,
                Defense: DefenseRegistry.Create(defense.Name(parse), settings),
                CleanFraction: parse.GetValue(fraction),
                Seed: parse.GetValue(seed),
                ResolveAttack: stored => attack.Parse(parse, stored),
                ModelLoad: modelLoad,
                Normalize: modelOptions.Normalize(parse),
                Objective: chosen,
                Encoder: selfSupervised ? encoderOptions.Parse(parse, parse.GetValue(seed)) : null,
                Retune: parse.GetValue(retune),
                QraCleanModel: parse.GetValue(qra));
            var outcome = PurifyRun.Execute(request, console);
            console.Out.WriteLine($"saved {outcome.OutputPath}" + (outcome.ReportPath is null ? "" : $"; report {outcome.ReportPath}"));
            return 0;
        });
        return command;
    }
}
