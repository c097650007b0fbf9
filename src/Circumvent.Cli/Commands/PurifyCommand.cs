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
        var attack = AttackOptions.ForEvaluation();
        var modelOptions = new ModelOptions();

        var command = new CommandWithMoreHelp("purify", "Remove a backdoor from a model (TSC or another defence) and report ACC/ASR/RA.", defense.Help)
        {
            model, data, output, report, runFolder, fraction, seed, retune,
        };
        defense.AddTo(command);
        attack.AddTo(command);
        modelOptions.AddTo(command);
        command.SetAction(parse =>
        {
            string outPath = parse.Value(output);
            string runFolderPath = parse.GetValue(runFolder) ?? outPath + ".run";
            new CommandFiles().Reads("--model", parse.Value(model)).Reads(attack.Files(parse)).Reads(modelOptions.Files(parse))
                .Writes("--out", outPath, CheckpointFiles.OutputExtensions).Writes("--report", parse.GetValue(report), CommandFiles.Json)
                .WritesFolder("--run-folder", runFolderPath).Check();
            var modelLoad = modelOptions.Parse(parse);
            var request = new PurificationRequest(
                ModelPath: parse.Value(model),
                Data: parse.Value(data),
                OutputPath: outPath,
                ReportPath: parse.GetValue(report),
                RunFolder: runFolderPath,
                Defense: DefenseRegistry.Create(defense.Name(parse), defense.Settings(parse)),
                CleanFraction: parse.GetValue(fraction),
                Seed: parse.GetValue(seed),
                ResolveAttack: stored => attack.Parse(parse, stored),
                ModelLoad: modelLoad,
                Normalize: modelOptions.Normalize(parse),
                Retune: parse.GetValue(retune));
            var outcome = PurifyRun.Execute(request, console);
            console.Out.WriteLine($"saved {outcome.OutputPath}" + (outcome.ReportPath is null ? "" : $"; report {outcome.ReportPath}"));
            return 0;
        });
        return command;
    }
}
