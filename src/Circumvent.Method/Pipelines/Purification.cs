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
/// <param name="Objective">What curves and fine-tuning minimise: "supervised" (a classifier's cross-entropy) or "simclr" (an encoder's
/// NT-Xent, <see cref="EncoderPurification"/>); it must fit the model. The <see cref="Defense"/> carries the objective's defaults.</param>
/// <param name="Encoder">How an encoder's stages are scored (downstream probe, kNN); null: the defaults.</param>
/// <param name="Retune">--retune: after the defence, run the retuning attack (<see cref="RetuningAttack"/>) on the purified model and report its ASR (P-ASR).</param>
/// <param name="QraCleanModel">--qra: a clean model of the same recipe; after the retuning attack (which it implies), run the query-based
/// reactivation attack (<see cref="QueryReactivationAttack"/>) against the purified model and this one. Null: no QRA.</param>
/// <param name="Qra">QRA's settings; null: the authors' (<see cref="QraOptions"/>).</param>
public sealed record PurificationRequest(
    string ModelPath, string Data, string OutputPath, string? ReportPath, string RunFolder,
    IDefense Defense, double CleanFraction, int Seed, Func<AttackDefinition?, AttackDefinition?> ResolveAttack,
    ModelLoadSettings? ModelLoad = null, Normalization? Normalize = null, string Objective = EncoderPurification.Supervised,
    EncoderScoring? Encoder = null, bool Retune = false, string? QraCleanModel = null,
    QraOptions? Qra = null);

/// <summary>The data a purification was scored with: the clean subset D, the test set, the normalisation, the attack and the dataset's augmentation.</summary>
/// <param name="EncoderTests">For an encoder: what its stages are scored on (the curves' points then too), with <paramref name="Probe"/>.</param>
/// <param name="Views">For an encoder: the views its curves were trained on (BN re-estimation then sees one of them).</param>
public sealed record PurificationSetup(ImageDataset Clean, ImageDataset Test, Normalization Normalization, IAttack? Attack,
    Circumvent.Data.Loading.Augmentation? Augmentation = null, EncoderTestSet? EncoderTests = null, ProbeOptions? Probe = null,
    Circumvent.Data.Loading.ContrastiveAugmentation? Views = null);

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
    /// <param name="Retune">The retuning attack on the purified model, when the request asked for it (or for QRA).</param>
    /// <param name="Qra">The query-based reactivation attack, when the request asked for it.</param>
    public sealed record Outcome(DefenseResult Result, string OutputPath, string? ReportPath, JsonObject Report, PurificationSetup Setup, InputPreprocessing Inputs,
        long BytesWritten, RetuningResult? Retune = null, QraResult? Qra = null);

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
        EncoderPurification.CheckObjective(request.ModelPath, checkpoint, request.Objective);
        var encoder = checkpoint.Encoder;
        var scoring = request.Encoder ?? new EncoderScoring();
        var downstream = encoder is null ? default : EncoderPurification.Downstream(scoring, spec, dataset, checkpoint.Architecture);
        var inputs = InputPreprocessing.For(request.ModelPath, checkpoint, dataset.Name, dataset.Normalization, request.Normalize, warn ?? log);
        var normalization = inputs.Normalization;
        // An encoder's ASR is its downstream probe's: the target is a downstream class.
        var attack = ResolveAttack(request, checkpoint, encoder is null ? dataset : downstream.Data);
        // QRA's teacher is the retuned model, so --qra runs the retuning attack too.
        bool retuneWanted = request.Retune || request.QraCleanModel is not null;
        string retuneOption = request.Retune ? "--retune" : "--qra";
        if (retuneWanted && attack is null)
            throw new ArgumentException($"{retuneOption} poisons its fine-tuning set with the model's attack, and none is known: pass --attack options (or use a model whose metadata records its attack).");
        if (retuneWanted && (encoder is not null || request.Objective == EncoderPurification.Clip))
            throw new ArgumentException($"{retuneOption} fine-tunes a classifier with poisoned labels; an encoder has none (use it with --objective supervised).");
        // Loaded before the defence runs, so a clean model that does not fit costs nothing.
        var cleanModel = request.QraCleanModel is null ? null : QraCleanModel(request.QraCleanModel, checkpoint, spec.Kind, dataset.Test, log, warn ?? log);
        var clean = Subsets.PerClass(dataset.Train, request.CleanFraction, request.Seed);
        if (clean.Count == 0)
            throw new ArgumentException($"--clean-fraction {request.CleanFraction} selects no images of {spec.Kind}'s {dataset.Train.Count} training images.");

        var clip = request.Objective == EncoderPurification.Clip ? ClipPurification.Create(request.ModelPath, checkpoint, dataset.Test, normalization, attack, cancellation) : null;
        var architecture = clip?.Image ?? checkpoint.CreateNetwork();
        // An attack on the encoder that is no classifier's (CTRL) gives ASR through the scoring's own trigger.
        var encoderTrigger = encoder is not null && attack is null ? scoring.Trigger : null;
        var encoderTests = encoder is null ? null
            : EncoderTestSet.Create(normalization, dataset, downstream.Data, attack, scoring.KnnK, scoring.KnnTemperature);
        if (encoderTests is not null && encoderTrigger is not null)
            encoderTests = encoderTests with { Triggered = encoderTrigger.NonTarget(downstream.Data.Test), TargetClass = encoderTrigger.Target };
        // Triggered once, on first use, and reused by every stage's scoring (triggers are deterministic; SSBA's runs a network).
        var testSet = new Lazy<BackdoorTestSet>(() => BackdoorTestSet.Create(dataset.Test, normalization, attack));
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
        // Only an encoder's run records its objective and scoring, so classifiers' run folders made before still match.
        if (encoder is not null)
            foreach (var (key, value) in EncoderPurification.Identity(scoring, downstream.Spec)) identity[key] = value?.DeepClone();
        if (encoderTrigger is not null)
            identity["encoder_trigger"] = new JsonObject { ["target"] = encoderTrigger.Target, ["trigger"] = encoderTrigger.Description };
        if (clip is not null)
            foreach (var (key, value) in ClipPurification.Identity(clip.Objective)) identity[key] = value?.DeepClone();
        // What those inputs hold, so the run still resumes after its data or trigger file moved.
        identity[InputContent.Field] = encoder is null
            ? InputContent.Of(identity, clean, dataset.Test)
            : InputContent.Of(identity, clean, dataset.Train, dataset.Test, downstream.Data.Train, downstream.Data.Test); // kNN reads all of train
        var input = new DefenseInput
        {
            Architecture = architecture,
            Parameters = clip?.ImageParameters ?? checkpoint.Parameters,
            Clean = clean,
            Normalization = normalization,
            Augmentation = dataset.Augmentation,
            ViewAugmentation = encoder is null ? null : EncoderPurification.Views,
            Objective = clip is not null ? clip.Objective : encoder is null ? new SupervisedObjective(0) : EncoderPurification.Objective(checkpoint),
            Seed = request.Seed,
            Evaluate = clip is not null ? clip.Evaluate : encoder is null
                ? p => BackdoorMetrics.Evaluate(architecture, p, testSet.Value, cancellation: cancellation)
                : EncoderPurification.Scorer(encoder, encoderTests!, scoring.ProbeOrDefault, null, cancellation),
            RunFolder = request.RunFolder,
            RunIdentity = identity,
            Cancellation = cancellation,
            Saving = saving,
        };

        log?.Invoke($"purifying {request.ModelPath} ({checkpoint.Architecture.Name}{(clip is not null ? $" CLIP image tower, InfoNCE against the frozen text tower at logit scale {clip.Objective.FixedScale:g4}; scored zero-shot" : "")}{(encoder is null ? "" : $" encoder, NT-Xent on two views; scored by kNN on {spec.Kind} and {string.Join(" and ", scoring.ProbeOrDefault.Kinds.Select(EncoderEvaluation.Describe))} probes on {downstream.Spec.Kind}")}) with {request.Defense.Name} on {clean.Count} clean images " +
                    $"({request.CleanFraction:0.###} of {spec.Kind} train per class); attack {(attack is null ? "unknown: ASR/RA not measured" : attack.Name + " → class " + attack.TargetClass)}; {inputs}; run folder {request.RunFolder}");
        var result = request.Defense.Run(input, observer);

        var extra = new Dictionary<string, string>(checkpoint.Extra, StringComparer.Ordinal)
        {
            [DefenseKey] = result.Config.ToJsonString(),
            [SourceModelKey] = new JsonObject { ["path"] = Path.GetFullPath(request.ModelPath), ["sha256"] = identity["model_sha256"]!.GetValue<string>() }.ToJsonString(),
        };
        // The attack ASR was measured with, so a later `eval` of the output needs no --attack either.
        if (attack is not null) extra[BackdoorTraining.AttackKey] = attack.Definition.ToJson();
        if (clip is not null) extra.Remove(ClipPretraining.ZeroShotAccuracyKey); // the source model's, not the purified one's
        if (result.After is { } after && encoder is null && clip is null) extra["circumvent.test_accuracy"] = (after.Acc / 100).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        new ModelCheckpoint
        {
            Architecture = checkpoint.Architecture,
            Parameters = clip is null ? result.Purified : ClipPurification.Merge(checkpoint.Parameters, result.Purified),
            ClassNames = checkpoint.ClassNames,
            // What it was purified with (also when that came from --normalize or the dataset): never needed again.
            NormalizationMean = normalization.Mean,
            NormalizationStd = normalization.Std,
            TrainingJson = checkpoint.TrainingJson,
            Extra = extra,
            BatchesTracked = checkpoint.BatchesTracked,
            Network = checkpoint.Network,
        }.Save(output);
        saving.Count(output);

        RetuningResult? retune = null;
        if (retuneWanted)
        {
            log?.Invoke("retuning attack (Min et al. 2024) on the purified model: 2% of the training set per class, 5 of it poisoned, 5 epochs");
            retune = RetuningAttack.Run(architecture, result.Purified, dataset.Train, normalization, attack!, dataset.Augmentation,
                input.Evaluate!, UnitSeeds.For(request.Seed, 0, UnitSeeds.Retune), cancellation: cancellation);
        }

        QraResult? qra = null;
        if (cleanModel is not null)
        {
            log?.Invoke($"query-based reactivation attack (Min et al. 2024) against the purified model and the clean model {request.QraCleanModel}: 500 clean + 500 triggered training images, 50 epochs");
            qra = QueryReactivationAttack.Run(architecture, result.Purified, retune!.Retuned, cleanModel, dataset.Train,
                BackdoorTestSet.Create(dataset.Test, normalization, attack), attack!, UnitSeeds.For(request.Seed, 0, UnitSeeds.Qra), request.Qra, cancellation: cancellation);
        }

        var report = PurificationReport.Build(request, result, saving.BytesWritten);
        retune?.AddTo(report);
        qra?.AddTo(report);
        if (reportPath is not null) AtomicText.Write(reportPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var setup = new PurificationSetup(clean, dataset.Test, normalization, attack, dataset.Augmentation, encoderTests,
            encoder is null ? null : scoring.ProbeOrDefault, encoder is null ? null : EncoderPurification.Views);
        return new Outcome(result, output, reportPath, report, setup, inputs, saving.BytesWritten, retune, qra);
    }

    /// <summary>QRA's clean model: read like the model being purified, and refused unless it has the same tensors (names and shapes).</summary>
    private static ParameterSet QraCleanModel(string path, ModelCheckpoint purified, string datasetKind, ImageDataset test, Action<string>? log, Action<string>? warn)
    {
        var clean = ModelLoading.Build(path, ModelLoading.Read(path, "--qra"), ModelLoadSettings.Default, datasetKind, test, log, warn, "--qra");
        foreach (var e in purified.Parameters)
        {
            if (!clean.Parameters.Contains(e.Name))
                throw new ArgumentException($"--qra: clean model '{path}' has no tensor '{e.Name}'; it must be a model of the same recipe as --model.");
            var shape = clean.Parameters[e.Name].Shape;
            if (!shape.SequenceEqual(e.Tensor.Shape))
                throw new ArgumentException($"--qra: clean model '{path}' has '{e.Name}' of shape ({string.Join(", ", shape)}), --model ({string.Join(", ", e.Tensor.Shape)}); it must be a model of the same recipe.");
        }
        return clean.Parameters;
    }

    /// <summary>
    /// The attack ASR is measured with: the one stored in the model's metadata, overridden or replaced
    /// by the request's resolver; null when neither exists (then only ACC is reported).
    /// </summary>
    /// <param name="dataset">The dataset whose classes the target must be one of (an encoder's downstream one).</param>
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
