using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Method.Attacks;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Cli.Commands;

/// <summary>What `purify` (and `demo`) ask for. <see cref="Architecture"/> overrides the model's own metadata (from --description).</summary>
internal sealed record PurifyRequest(
    string ModelPath, string Data, string OutputPath, string? ReportPath, string RunFolder,
    IDefense Defense, double CleanFraction, int Seed, Func<AttackDefinition?, AttackDefinition?> ResolveAttack,
    ArchitectureConfig? Architecture = null);

/// <summary>Load → check → defend (resumably) → save model and report → print the table. Shared by `purify` and `demo`.</summary>
internal static class PurifyRun
{
    public const string DefenseKey = "circumvent.defense";
    public const string SourceModelKey = "circumvent.source_model";

    public sealed record Outcome(DefenseResult Result, string OutputPath, string? ReportPath, JsonObject Report);

    public static Outcome Execute(PurifyRequest request, CliConsole console)
    {
        // Cheap checks first: a typo must never cost a run or leave a file behind.
        string output = TrainingRun.CheckOutputPath(request.OutputPath);
        string? reportPath = request.ReportPath is null ? null : CheckFilePath("--report", request.ReportPath);
        if (File.Exists(request.RunFolder))
            throw new UsageException($"run folder '{request.RunFolder}' is a file; expected a folder.");
        if (!(request.CleanFraction > 0 && request.CleanFraction <= 1))
            throw new UsageException($"--clean-fraction must be in (0, 1], got {request.CleanFraction}.");
        if (!File.Exists(request.ModelPath))
            throw new UsageException($"--model '{request.ModelPath}': file not found.");

        var checkpoint = ModelCheckpoint.Load(request.ModelPath, request.Architecture);
        var spec = DatasetSpec.Parse(request.Data);
        var dataset = spec.Load();
        CheckCompatible(request.ModelPath, checkpoint.Architecture, spec, dataset);
        var normalization = checkpoint.NormalizationMean is { } mean ? new Normalization(mean, checkpoint.NormalizationStd!) : dataset.Normalization;
        var attack = ResolveAttack(request, checkpoint, dataset);
        var clean = Subsets.PerClass(dataset.Train, request.CleanFraction, request.Seed);
        if (clean.Count == 0)
            throw new UsageException($"--clean-fraction {request.CleanFraction} selects no images of {spec.Kind}'s {dataset.Train.Count} training images.");

        var architecture = Architectures.Create(checkpoint.Architecture);
        var identity = new JsonObject
        {
            ["model_sha256"] = Sha256(request.ModelPath),
            ["data"] = spec.ToString(),
            ["clean_fraction"] = request.CleanFraction,
            ["normalization"] = new JsonObject { ["mean"] = ToArray(normalization.Mean), ["std"] = ToArray(normalization.Std) },
            ["attack"] = attack is null ? null : JsonNode.Parse(attack.Definition.ToJson()),
        };
        var input = new DefenseInput
        {
            Architecture = architecture,
            Parameters = checkpoint.Parameters,
            Clean = clean,
            Normalization = normalization,
            Objective = new SupervisedObjective(0),
            Seed = request.Seed,
            Evaluate = p => BackdoorMetrics.Evaluate(architecture, p, dataset.Test, normalization, attack),
            RunFolder = request.RunFolder,
            RunIdentity = identity,
            Cancellation = console.Cancellation,
        };

        console.Out.WriteLine($"purifying {request.ModelPath} ({checkpoint.Architecture.Name}) with {request.Defense.Name} on {clean.Count} clean images " +
                              $"({request.CleanFraction:0.###} of {spec.Kind} train per class); attack {(attack is null ? "unknown: ASR/RA not measured" : attack.Name + " → class " + attack.TargetClass)}; run folder {request.RunFolder}");
        var view = new PurifyProgressView(console);
        var result = request.Defense.Run(input, view);

        var extra = new Dictionary<string, string>(checkpoint.Extra, StringComparer.Ordinal)
        {
            [DefenseKey] = result.Config.ToJsonString(),
            [SourceModelKey] = new JsonObject { ["path"] = Path.GetFullPath(request.ModelPath), ["sha256"] = identity["model_sha256"]!.GetValue<string>() }.ToJsonString(),
        };
        if (result.After is { } after) extra["circumvent.test_accuracy"] = (after.Acc / 100).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        new ModelCheckpoint
        {
            Architecture = checkpoint.Architecture,
            Parameters = result.Purified,
            ClassNames = checkpoint.ClassNames,
            NormalizationMean = checkpoint.NormalizationMean,
            NormalizationStd = checkpoint.NormalizationStd,
            TrainingJson = checkpoint.TrainingJson,
            Extra = extra,
            BatchesTracked = checkpoint.BatchesTracked,
        }.Save(output);

        var report = PurifyReport.Build(request, result);
        if (reportPath is not null) AtomicText.Write(reportPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        ScoresTable.Print(console, $"{request.Defense.Name}: {Path.GetFileName(request.ModelPath)} → {Path.GetFileName(output)}", ScoresTable.Rows(result),
            $"{result.Elapsed.TotalSeconds:F0} s this run, {result.ComputeSeconds:F0} s in all units; {result.UnitsRun} units run, {result.UnitsResumed} resumed");
        return new Outcome(result, output, reportPath, report);
    }

    /// <summary>
    /// The attack ASR is measured with: the one stored in the model's metadata, overridden or replaced
    /// by --attack options; null when neither exists (then only ACC is reported).
    /// </summary>
    private static IAttack? ResolveAttack(PurifyRequest request, ModelCheckpoint checkpoint, DatasetPair dataset)
    {
        AttackDefinition? stored = null;
        if (checkpoint.Extra.TryGetValue(TrainingRun.AttackKey, out var json))
        {
            try { stored = AttackDefinition.FromJson(json); }
            catch (ArgumentException e) { throw new UsageException($"--model '{request.ModelPath}': its attack metadata is invalid ({e.Message}); pass --attack options instead."); }
        }
        var definition = request.ResolveAttack(stored);
        if (definition is null) return null;
        if (definition.Target >= dataset.NumClasses)
            throw new UsageException($"--target {definition.Target} is outside {dataset.Name}'s classes 0..{dataset.NumClasses - 1}.");
        return AttackFactory.Create(definition);
    }

    /// <summary>Full path of an output file after checking its folder exists and it is not a folder.</summary>
    public static string CheckFilePath(string option, string path)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new UsageException($"{option} '{path}' is a directory; expected a file path.");
        string? folder = Path.GetDirectoryName(full);
        if (folder is not null && !Directory.Exists(folder))
            throw new UsageException($"{option} '{path}': folder '{folder}' does not exist.");
        return full;
    }

    public static void CheckCompatible(string modelPath, ArchitectureConfig arch, DatasetSpec spec, DatasetPair dataset)
    {
        var test = dataset.Test;
        if (test.Channels != arch.InChannels || test.Height != arch.Height || test.Width != arch.Width)
            throw new UsageException(
                $"--model '{modelPath}' expects {arch.InChannels}×{arch.Height}×{arch.Width} images but {spec.Kind} has {test.Channels}×{test.Height}×{test.Width}.");
        if (dataset.NumClasses != arch.Classes)
            throw new UsageException($"--model '{modelPath}' has {arch.Classes} classes but {spec.Kind} has {dataset.NumClasses}.");
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static JsonArray ToArray(float[] values) => new([.. values.Select(v => (JsonNode)JsonValue.Create((double)v))]);
}
