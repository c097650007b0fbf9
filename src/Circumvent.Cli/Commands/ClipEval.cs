using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `eval` of a small CLIP (role "clip"): zero-shot top-1 accuracy on --data's test split by its prompts ("a photo of a
/// {c}.") and, with an attack (stored by BadEncoder, or the attack options), zero-shot ASR: the share of triggered
/// non-target test images whose top-1 prompt is the target's.
/// </summary>
internal static class ClipEval
{
    public static bool IsClip(SafeTensorsContent content) =>
        content.Metadata.TryGetValue(ModelCheckpoint.RoleKey, out var role) && role == ModelCheckpoint.ClipRole;

    public static int Run(CliConsole console, string modelPath, SafeTensorsContent content, DatasetSpec spec, ModelLoadSettings settings,
        AttackOptions attackOptions, ModelOptions modelOptions, ParseResult parse, bool json)
    {
        var (test, normalization) = spec.LoadTest();
        var checkpoint = ModelLoading.Build(modelPath, content, settings, spec.Kind, test, json ? null : console.Out.WriteLine, console.Warn);
        var clip = checkpoint.Clip ?? throw new InvalidOperationException("The checkpoint's role says clip but it did not load as one.");
        var captions = ClipPretraining.Captions(modelPath, checkpoint);
        if (captions.Classes != test.NumClasses)
            throw new UsageException($"--model '{modelPath}' has prompts for {captions.Classes} classes; {spec.Kind}'s test split has {test.NumClasses}.");
        var attack = attackOptions.Parse(parse, EvalCommand.StoredAttack(modelPath, checkpoint));
        if (attack is not null && attack.Target >= test.NumClasses)
            throw new UsageException($"--target {attack.Target} is outside {spec.Kind}'s classes 0..{test.NumClasses - 1}.");
        var inputs = InputPreprocessing.For(modelPath, checkpoint, spec.Kind, normalization, modelOptions.Normalize(parse), console.Warn);
        var scores = ClipPretraining.ZeroShot(clip, checkpoint.Parameters, captions, test, inputs.Normalization, attack is null ? null : AttackFactory.Create(attack), console.Cancellation);
        if (json)
        {
            var values = new Dictionary<string, object> { ["zero_shot"] = true, ["acc"] = Math.Round(scores.Acc, 2) };
            if (scores.Asr is { } asr) values["asr"] = Math.Round(asr, 2);
            if (scores.Ra is { } ra) values["ra"] = Math.Round(ra, 2);
            values["normalize"] = inputs.Normalization.OptionText();
            console.Out.WriteLine(JsonSerializer.Serialize(values));
            return 0;
        }
        static string Percent(double value) => value.ToString("0.##", CultureInfo.InvariantCulture) + "%";
        string text = $"zero-shot accuracy {Percent(scores.Acc)} by the prompts \"{captions.Prompt}\" ({inputs})";
        if (scores.Asr is { } a)
            text += $"\n{attack!.Kind} attack (target {attack.Target}, \"{captions.Prompts()[attack.Target]}\"): zero-shot attack success rate {Percent(a)} of non-target images, robust accuracy {Percent(scores.Ra ?? double.NaN)}";
        console.Out.WriteLine(text);
        return 0;
    }
}
