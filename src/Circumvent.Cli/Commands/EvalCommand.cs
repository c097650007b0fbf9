using System.CommandLine;
using Circumvent.Training;
using System.Globalization;
using System.Text.Json;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent eval`: top-1 test accuracy of a checkpoint on a dataset and, when an attack is known
/// (from the checkpoint's metadata or the attack options, which override it), ASR and RA. An encoder (role "encoder")
/// gets its kNN accuracy on the dataset and, with --downstream, probe ACC/ASR (<see cref="EncoderEval"/>); a small CLIP
/// (role "clip") its zero-shot ACC/ASR (<see cref="ClipEval"/>).
/// </summary>
internal static class EvalCommand
{
    public static Command Create(CliConsole console)
    {
        var model = Options.Required("--model", "Checkpoint: .safetensors (from `circumvent train` or any state_dict) or a PyTorch .pth/.pt.");
        var data = Options.Required("--data", "Dataset as KIND[:PATH]; its test split is evaluated.");
        var batchSize = Options.Make("--batch-size", "Evaluation batch size.", 256);
        var tta = Options.Make("--tta", "Test-time augmentation: 0 none, 1 mirror (mean of the image and its flip), 2 mirror + two 1-pixel translations (airbench).", 0);
        var json = Options.Json();
        var attackOptions = AttackOptions.ForEvaluation();
        var modelOptions = new ModelOptions();
        var encoderOptions = new EncoderOptions();
        var command = new Command("eval", "Evaluate a checkpoint's test accuracy (and attack success rate / robust accuracy); an encoder's kNN accuracy and downstream probes.") { model, data, batchSize, tta, json };
        attackOptions.AddTo(command);
        modelOptions.AddTo(command);
        encoderOptions.AddTo(command);
        command.SetAction(parse =>
        {
            int batch = parse.GetValue(batchSize);
            if (batch <= 0) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            int ttaLevel = parse.GetValue(tta);
            if (ttaLevel is < 0 or > TestTimeAugmentation.MaxLevel) throw new UsageException($"--tta must be 0, 1 or 2, got {ttaLevel}.");
            var settings = modelOptions.Parse(parse);
            string modelPath = parse.Value(model);
            var content = ModelLoading.Read(modelPath);
            var spec = DatasetSpec.Parse(parse.Value(data));
            if (EncoderEval.IsEncoder(content))
            {
                if (ttaLevel != 0) throw new UsageException("--tta applies to classifiers; --model is an encoder.");
                return EncoderEval.Run(console, modelPath, content, spec, settings, attackOptions, encoderOptions, modelOptions, parse, batch, parse.GetValue(json));
            }
            if (ClipEval.IsClip(content))
            {
                if (ttaLevel != 0 || encoderOptions.AnyGiven(parse)) throw new UsageException("--tta, --downstream and the --probe options do not apply to a CLIP model (it is scored zero-shot).");
                return ClipEval.Run(console, modelPath, content, spec, settings, attackOptions, modelOptions, parse, parse.GetValue(json));
            }
            if (encoderOptions.AnyGiven(parse))
                throw new UsageException($"--downstream and the --probe options score encoders; --model '{modelPath}' is a classifier.");
            // Only the test split is scored, so only it is read: a folder holding just the test files will do.
            var (test, normalization) = spec.LoadTest();
            var checkpoint = ModelLoading.Build(modelPath, content, settings, spec.Kind, test,
                parse.GetValue(json) ? null : console.Out.WriteLine, console.Warn);
            var loaded = new LoadedModel(modelPath, checkpoint);
            var attack = attackOptions.Parse(parse, StoredAttack(loaded.Path, loaded.Checkpoint));
            var inputs = InputPreprocessing.For(modelPath, checkpoint, spec.Kind, normalization, modelOptions.Normalize(parse), console.Warn);
            var scores = Evaluate(loaded, spec, test, inputs.Normalization, attack, batch, ttaLevel, console.Cancellation);
            console.Out.WriteLine(parse.GetValue(json) ? ToJson(scores, inputs, ttaLevel) : ToText(scores, attack, inputs, ttaLevel));
            return 0;
        });
        return command;
    }

    private sealed record LoadedModel(string Path, ModelCheckpoint Checkpoint);

    /// <summary>The attack definition saved by `train --attack`, or null.</summary>
    public static AttackDefinition? StoredAttack(string modelPath, ModelCheckpoint checkpoint)
    {
        if (!checkpoint.Extra.TryGetValue(TrainingRun.AttackKey, out var text)) return null;
        try
        {
            return AttackDefinition.FromJson(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--model '{modelPath}': metadata '{TrainingRun.AttackKey}' is not a valid attack: {e.Message}");
        }
    }

    /// <param name="test">Already checked to fit the model (by <see cref="ModelLoading.Build"/>).</param>
    /// <param name="normalization">The model's input preprocessing (<see cref="InputPreprocessing"/>).</param>
    private static BackdoorScores Evaluate(LoadedModel model, DatasetSpec spec, ImageDataset test, Normalization normalization, AttackDefinition? attack, int batchSize, int ttaLevel,
        CancellationToken cancellation)
    {
        var trigger = attack is null ? null : AttackFactory.Create(attack);
        var arch = model.Checkpoint.Architecture;
        if (trigger is not null && trigger.TargetClass >= test.NumClasses)
            throw new UsageException($"--target {trigger.TargetClass} is outside {spec.Kind}'s classes 0..{test.NumClasses - 1}.");
        return BackdoorMetrics.Evaluate(Architectures.Create(arch), model.Checkpoint.Parameters, test, normalization, trigger, batchSize, ttaLevel, cancellation);
    }

    /// <summary>{"acc", "asr", "ra", "asr_all", "normalize", "tta_level"}: asr over non-target images, asr_all over all (see README, "ASR").</summary>
    private static string ToJson(BackdoorScores scores, InputPreprocessing inputs, int ttaLevel)
    {
        var values = new Dictionary<string, object> { ["acc"] = Math.Round(scores.Acc, 2) };
        if (ttaLevel != 0) values["tta_level"] = ttaLevel;
        if (scores.Asr is { } asr) values["asr"] = Math.Round(asr, 2);
        if (scores.Ra is { } ra) values["ra"] = Math.Round(ra, 2);
        if (scores.AsrAll is { } all) values["asr_all"] = Math.Round(all, 2);
        values["normalize"] = inputs.Normalization.OptionText();
        return JsonSerializer.Serialize(values);
    }

    private static string ToText(BackdoorScores scores, AttackDefinition? attack, InputPreprocessing inputs, int ttaLevel)
    {
        static string Percent(double value) => value.ToString("0.##", CultureInfo.InvariantCulture) + "%";
        string text = $"test accuracy {Percent(scores.Acc)} ({inputs}{(ttaLevel != 0 ? $", TTA level {ttaLevel}" : "")})";
        if (scores.Asr is { } asr && scores.Ra is { } ra)
            text += $"\n{attack!.Kind} attack (target {attack.Target}): attack success rate {Percent(asr)} of non-target images" +
                    (scores.AsrAll is { } all ? $" ({Percent(all)} of all test images)" : "") + $", robust accuracy {Percent(ra)}";
        return text;
    }
}
