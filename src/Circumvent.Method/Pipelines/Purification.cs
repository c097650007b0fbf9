using Circumvent.Method.Runs;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>What a purification asks for (`purify`, `demo`, the experiment runner).</summary>
/// <param name="ResolveAttack">Turns the attack stored in the model (or null) into the one ASR is measured with (or null: ACC only).</param>
/// <param name="ModelLoad">How to read the model (a description, --arch/--width hints, NaN policy); null: as its own metadata says, else inferred.</param>
/// <param name="Normalize">--normalize: the model's input normalisation; null: as the model records it, else the dataset's (<see cref="InputPreprocessing"/>).</param>
public sealed record PurificationRequest(
    string ModelPath, string Data, string OutputPath, string? ReportPath, string RunFolder,
    IDefense Defense, double CleanFraction, int Seed, Func<AttackDefinition?, AttackDefinition?> ResolveAttack,
    ModelLoadSettings? ModelLoad = null, Normalization? Normalize = null);

/// <summary>The data a purification was scored with: the clean subset D, the test set, the normalisation, the attack and the dataset's augmentation.</summary>
public sealed record PurificationSetup(ImageDataset Clean, ImageDataset Test, Normalization Normalization, IAttack? Attack,
    Circumvent.Data.Loading.Augmentation? Augmentation = null);

/// <summary>
/// Load → check → defend (resumably) → save model and report. Errors the user can fix are
/// <see cref="ArgumentException"/>s naming the option or file.
/// </summary>
public static class Purification
{
    public const string DefenseKey = "circumvent.defense";
    public const string SourceModelKey = "circumvent.source_model";

    /// <param name="Inputs">The input normalisation the model was scored and purified with, and where it came from.</param>
    /// <param name="BytesWritten">Bytes this call wrote: progress saves, the units' results and the purified model (the report aside).</param>
    public sealed record Outcome(DefenseResult Result, string OutputPath, string? ReportPath, JsonObject Report, PurificationSetup Setup, InputPreprocessing Inputs,
        long BytesWritten);

    /// <param name="log">Receives what was inferred about the model and one line describing the run once everything is loaded.</param>
    /// <param name="warn">Receives problems that did not stop the load (non-finite weights); null: <paramref name="log"/> gets them.</param>
    public static Outcome Run(PurificationRequest request, IDefenseObserver? observer, Action<string>? log, CancellationToken cancellation,
        Action<string>? warn = null)
    {
        // Cheap checks first: a typo must never cost a run or leave a file behind.
        string output = OutputPaths.Check("--out", request.OutputPath, "a file path such as model.safetensors");
        string? reportPath = request.ReportPath is null ? null : OutputPaths.Check("--report", request.ReportPath);
        if (File.Exists(request.RunFolder))
            throw new ArgumentException($"run folder '{request.RunFolder}' is a file; expected a folder.");
        var saving = ProgressSaving.FromEnvironment();
        if (!(request.CleanFraction > 0 && request.CleanFraction <= 1))
            throw new ArgumentException($"--clean-fraction must be in (0, 1], got {request.CleanFraction}.");
        var content = ModelLoading.Read(request.ModelPath);
        var spec = DatasetSpec.Parse(request.Data);
        var dataset = spec.Load();
        var checkpoint = ModelLoading.Build(request.ModelPath, content, request.ModelLoad ?? ModelLoadSettings.Default, spec.Kind, dataset.Test, log, warn ?? log);
        var inputs = InputPreprocessing.For(request.ModelPath, checkpoint, dataset.Name, dataset.Normalization, request.Normalize, warn ?? log);
        var normalization = inputs.Normalization;
        var attack = ResolveAttack(request, checkpoint, dataset);
        var clean = Subsets.PerClass(dataset.Train, request.CleanFraction, request.Seed);
        if (clean.Count == 0)
            throw new ArgumentException($"--clean-fraction {request.CleanFraction} selects no images of {spec.Kind}'s {dataset.Train.Count} training images.");

        var architecture = Architectures.Create(checkpoint.Architecture);
        var identity = new JsonObject
        {
            ["model_sha256"] = Sha256Hex.OfFile(request.ModelPath),
            ["data"] = spec.ToString(),
            ["clean_fraction"] = request.CleanFraction,
            ["normalization"] = new JsonObject { ["mean"] = ToArray(normalization.Mean), ["std"] = ToArray(normalization.Std) },
            ["attack"] = attack is null ? null : JsonNode.Parse(attack.Definition.ToJson()),
        };
        // Recorded only when it is not the crop + flip every run used before datasets had their own recipe,
        // so older run folders still resume, and one made with flips on digits is refused rather than mixed.
        if (dataset.Augmentation != Circumvent.Data.Loading.Augmentation.CropAndFlip(clean.Height / 8))
            identity["augmentation"] = dataset.Augmentation.Describe();
        var input = new DefenseInput
        {
            Architecture = architecture,
            Parameters = checkpoint.Parameters,
            Clean = clean,
            Normalization = normalization,
            Augmentation = dataset.Augmentation,
            Objective = new SupervisedObjective(0),
            Seed = request.Seed,
            Evaluate = p => BackdoorMetrics.Evaluate(architecture, p, dataset.Test, normalization, attack),
            RunFolder = request.RunFolder,
            RunIdentity = identity,
            Cancellation = cancellation,
            Saving = saving,
        };

        log?.Invoke($"purifying {request.ModelPath} ({checkpoint.Architecture.Name}) with {request.Defense.Name} on {clean.Count} clean images " +
                    $"({request.CleanFraction:0.###} of {spec.Kind} train per class); attack {(attack is null ? "unknown: ASR/RA not measured" : attack.Name + " → class " + attack.TargetClass)}; {inputs}; run folder {request.RunFolder}");
        var result = request.Defense.Run(input, observer);

        var extra = new Dictionary<string, string>(checkpoint.Extra, StringComparer.Ordinal)
        {
            [DefenseKey] = result.Config.ToJsonString(),
            [SourceModelKey] = new JsonObject { ["path"] = Path.GetFullPath(request.ModelPath), ["sha256"] = identity["model_sha256"]!.GetValue<string>() }.ToJsonString(),
        };
        // The attack ASR was measured with, so a later `eval` of the output needs no --attack either.
        if (attack is not null) extra[BackdoorTraining.AttackKey] = attack.Definition.ToJson();
        if (result.After is { } after) extra["circumvent.test_accuracy"] = (after.Acc / 100).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        new ModelCheckpoint
        {
            Architecture = checkpoint.Architecture,
            Parameters = result.Purified,
            ClassNames = checkpoint.ClassNames,
            // What it was purified with (also when that came from --normalize or the dataset): never needed again.
            NormalizationMean = normalization.Mean,
            NormalizationStd = normalization.Std,
            TrainingJson = checkpoint.TrainingJson,
            Extra = extra,
            BatchesTracked = checkpoint.BatchesTracked,
        }.Save(output);
        saving.Count(output);

        var report = PurificationReport.Build(request, result, saving.BytesWritten);
        if (reportPath is not null) AtomicText.Write(reportPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new Outcome(result, output, reportPath, report, new PurificationSetup(clean, dataset.Test, normalization, attack, dataset.Augmentation), inputs,
            saving.BytesWritten);
    }

    /// <summary>
    /// The attack ASR is measured with: the one stored in the model's metadata, overridden or replaced
    /// by the request's resolver; null when neither exists (then only ACC is reported).
    /// </summary>
    private static IAttack? ResolveAttack(PurificationRequest request, ModelCheckpoint checkpoint, DatasetPair dataset)
    {
        AttackDefinition? stored = null;
        if (checkpoint.Extra.TryGetValue(BackdoorTraining.AttackKey, out var json))
        {
            try { stored = AttackDefinition.FromJson(json); }
            catch (ArgumentException e) { throw new ArgumentException($"--model '{request.ModelPath}': its attack metadata is invalid ({e.Message}); pass --attack options instead."); }
        }
        var definition = request.ResolveAttack(stored);
        if (definition is null) return null;
        if (definition.Target >= dataset.NumClasses)
            throw new ArgumentException($"--target {definition.Target} is outside {dataset.Name}'s classes 0..{dataset.NumClasses - 1}.");
        return AttackFactory.Create(definition);
    }

    private static JsonArray ToArray(float[] values) => new([.. values.Select(v => (JsonNode)JsonValue.Create((double)v))]);
}
