using Circumvent.Attacks;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circumvent.Data;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `eval` of an encoder: kNN accuracy (k 200, T 0.1) on --data's test split with its training split as memory, and with
/// --downstream the probes' ACC and, with an attack, ASR/RA on the downstream test set (features extracted once, probes
/// trained on the frozen, normalised features).
/// </summary>
internal static class EncoderEval
{
    /// <summary>Whether the file is an encoder checkpoint (its metadata names the role), known before anything else is read.</summary>
    public static bool IsEncoder(SafeTensorsContent content) =>
        content.Metadata.TryGetValue(ModelCheckpoint.RoleKey, out var role) && role == ModelCheckpoint.EncoderRole;

    public static int Run(CliConsole console, string modelPath, SafeTensorsContent content, DatasetSpec spec, ModelLoadSettings settings,
        AttackOptions attackOptions, EncoderOptions encoderOptions, ModelOptions modelOptions, ParseResult parse, int batchSize, bool json)
    {
        var scoring = encoderOptions.Parse(parse);
        var probe = scoring.ProbeOrDefault with { BatchSize = batchSize };
        var pretraining = spec.Load();
        var checkpoint = ModelLoading.Build(modelPath, content, settings, spec.Kind, pretraining.Test, json ? null : console.Out.WriteLine, console.Warn);
        var encoder = checkpoint.Encoder ?? throw new InvalidOperationException("The checkpoint's role says encoder but it did not load as one.");
        var attack = attackOptions.Parse(parse, EvalCommand.StoredAttack(modelPath, checkpoint));
        if (attack is not null && scoring.Downstream is null)
            throw new UsageException("--attack measures ASR on a downstream probe; give --downstream (e.g. --downstream gtsrb:DIR).");
        var downstream = scoring.Downstream is null ? null : EncoderPurification.Downstream(scoring, spec, pretraining, checkpoint.Architecture).Data;
        var inputs = InputPreprocessing.For(modelPath, checkpoint, spec.Kind, pretraining.Normalization, modelOptions.Normalize(parse), console.Warn);
        EncoderTestSet tests;
        try { tests = EncoderTestSet.Create(inputs.Normalization, pretraining, downstream, attack is null ? null : AttackFactory.Create(attack)); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        // No step log: the summary printed below already gives kNN and every probe (and more: the downstream set, RA).
        var scores = EncoderEvaluation.Evaluate(encoder, checkpoint.Parameters, tests, probe, cancellation: console.Cancellation);
        console.Out.WriteLine(json ? ToJson(scores, inputs) : ToText(scores, spec, downstream, attack, inputs, probe));
        return 0;
    }

    /// <summary>{"knn", "acc", "asr", "ra" (the first probe's), "probes": [{"probe", "acc", "asr", "ra"}], "normalize"}.</summary>
    private static string ToJson(EncoderScores scores, InputPreprocessing inputs)
    {
        var values = new Dictionary<string, object?> { ["knn"] = Round(scores.Knn) };
        if (scores.Probes.Count > 0)
        {
            values["acc"] = Round(scores.Probes[0].Acc);
            if (scores.Probes[0].Asr is { } asr) values["asr"] = Round(asr);
            if (scores.Probes[0].Ra is { } ra) values["ra"] = Round(ra);
            values["probes"] = scores.Probes.Select(p => new Dictionary<string, object?>
            {
                ["probe"] = p.Kind.ToString().ToLowerInvariant(), ["acc"] = Round(p.Acc), ["asr"] = Round(p.Asr), ["ra"] = Round(p.Ra),
            }).ToList();
        }
        values["normalize"] = inputs.Normalization.OptionText();
        return JsonSerializer.Serialize(values);
    }

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 2) : null;

    private static string ToText(EncoderScores scores, DatasetSpec spec, DatasetPair? downstream, AttackDefinition? attack, InputPreprocessing inputs,
        ProbeOptions probe)
    {
        static string Percent(double value) => value.ToString("0.##", CultureInfo.InvariantCulture) + "%";
        var lines = new List<string> { $"kNN accuracy {Percent(scores.Knn ?? double.NaN)} on {spec.Kind}'s test split (k {KnnMonitor.DefaultK}, T {KnnMonitor.DefaultTemperature:g}; {inputs})" };
        foreach (var p in scores.Probes)
            lines.Add($"{EncoderEvaluation.Describe(p.Kind)} probe on {downstream!.Name} ({probe.Epochs} epochs on {downstream.Train.Count} images): downstream accuracy {Percent(p.Acc)}" +
                      (p.Asr is { } asr ? $"; {attack!.Kind} attack (target {attack.Target}): attack success rate {Percent(asr)} of non-target images, robust accuracy {Percent(p.Ra ?? double.NaN)}" : ""));
        if (downstream is null) lines.Add("(no --downstream: no probe)");
        return string.Join("\n", lines);
    }
}
