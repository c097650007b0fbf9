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
        var defense = Options.Make("--defense", "tsc, mcr, ft or none.", "tsc");
        var fraction = Options.Make("--clean-fraction", "Share of every class of the training set the defender holds (seeded by --seed).", 0.05);
        var seed = Options.Make("--seed", "Seed for the clean subset, permutations, curve t draws and shuffling.", 0);
        var rounds = Unset<int>("--rounds", "TSC rounds E (default 3).");
        var t = Unset<double>("--t", "Curve point taken (default 0.4).");
        var curveEpochs = Unset<int>("--curve-epochs", "Epochs per curve (default 200).");
        var curveLr = Unset<double>("--curve-lr", "Peak curve learning rate, cosine over the curve epochs (default 0.02).");
        var batchSize = Unset<int>("--batch-size", "Batch size for curves and fine-tuning (default 256).");
        var fineTuneEpochs = Unset<int>("--finetune-epochs", "Fine-tuning epochs (TSC between rounds: 10; MCR endpoint and FT: 100).");
        var fineTuneLr = Unset<double>("--finetune-lr", "Fine-tuning learning rate (TSC: 1e-4; MCR endpoint and FT: 0.01).");
        var noAugment = new Option<bool>("--no-augment") { Description = "Train curves and fine-tune on D without random crop + flip." };
        var attack = AttackOptions.ForEvaluation();
        var modelOptions = new ModelOptions();

        var command = new Command("purify", "Remove a backdoor from a model (TSC, MCR, fine-tuning) and report ACC/ASR/RA.")
        {
            model, data, output, report, runFolder, defense, fraction, seed, rounds, t, curveEpochs, curveLr, batchSize,
            fineTuneEpochs, fineTuneLr, noAugment,
        };
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
            var knobs = new DefenseKnobs(parse.GetValue(rounds), parse.GetValue(t), parse.GetValue(curveEpochs), parse.GetValue(curveLr),
                parse.GetValue(batchSize), parse.GetValue(fineTuneEpochs), parse.GetValue(fineTuneLr), !parse.GetValue(noAugment));
            var request = new PurificationRequest(
                ModelPath: parse.Value(model),
                Data: parse.Value(data),
                OutputPath: outPath,
                ReportPath: parse.GetValue(report),
                RunFolder: runFolderPath,
                Defense: DefenseFactory.Create((parse.GetValue(defense) ?? "").ToLowerInvariant(), knobs),
                CleanFraction: parse.GetValue(fraction),
                Seed: parse.GetValue(seed),
                ResolveAttack: stored => attack.Parse(parse, stored),
                ModelLoad: modelLoad,
                Normalize: modelOptions.Normalize(parse));
            var outcome = PurifyRun.Execute(request, console);
            console.Out.WriteLine($"saved {outcome.OutputPath}" + (outcome.ReportPath is null ? "" : $"; report {outcome.ReportPath}"));
            return 0;
        });
        return command;
    }

    private static Option<T?> Unset<T>(string name, string description) where T : struct => new(name) { Description = description };
}
