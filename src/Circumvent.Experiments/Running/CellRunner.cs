using Circumvent.Method.Runs;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;

namespace Circumvent.Experiments.Running;

/// <summary>
/// Runs one cell: train (or reuse) its backdoored model, run its defence resumably, sample its curves,
/// and return the results line. Files:
/// <code>
/// CACHE/MODELKEY/model.safetensors   the backdoored model (written by temp + rename), config.json beside it
///                                    training.json (its scores and seconds), inputs.json (its attack's files by content);
///                                    while training, model.safetensors.train-state and .train-seconds;
///                                    model.lock, held by the runner training it (shards sharing the cache wait on it)
/// CACHE/CLEANKEY/model.safetensors  with "qra": the clean model of the cell's recipe (no poisoning), kept and locked alike
/// CACHE/input-aware-masks/KEY.mask-state  pre-trained mask networks, reused by any recipe with the same data, batches and seed
/// CACHE/ssba-encoders/KEY.encoder-state   trained SSBA encoders, reused by any recipe with the same data, seed and encoder settings
/// OUT/runs/RUNKEY/purified.safetensors, purified.safetensors.run/ (the defence's resumable run folder), curves.json
///                                    (RUNKEY: the cell key without the retuning attack, so a cell with it reuses the defence)
/// </code>
/// </summary>
internal sealed partial class CellRunner(string outFolder, string cacheFolder, IExperimentObserver observer, CancellationToken cancellation)
{
    private readonly ConcurrentDictionary<string, object> _modelLocks = new(StringComparer.Ordinal);
    // Models whose training failed in this run (key → why), so that with --keep-going their other cells fail at once
    // instead of training them again.
    private readonly ConcurrentDictionary<string, Exception> _failedModels = new(StringComparer.Ordinal);

    public JsonObject Run(Cell cell)
    {
        if (cell.Encoder is not null) return RunEncoder(cell);
        var clock = Stopwatch.StartNew();
        var (modelPath, training) = Model(cell);
        var (cleanModelPath, cleanTraining) = cell.Qra ? CleanModel(cell) : default;

        string folder = Path.Combine(outFolder, "runs", cell.RunKey);
        Directory.CreateDirectory(folder);
        var defense = cell.Defense.Create();
        var request = new PurificationRequest(modelPath, cell.Dataset, Path.Combine(folder, "purified.safetensors"), ReportPath: null,
            RunFolder: Path.Combine(folder, "purified.safetensors.run"), defense, cell.CleanFraction, cell.Seed,
            ResolveAttack: stored => Relocated(stored, cell.AttackDefinition, modelPath, cacheFolder),
            Retune: cell.Retune, QraCleanModel: cleanModelPath);
        var outcome = Purification.Run(request, new UnitLog(cell, observer), log: null, cancellation);

        var line = LineStart(cell, cell.Architecture.Name, cell.Architecture.Width);
        PurificationReport.AddScores(line, outcome.Result);
        outcome.Retune?.AddTo(line);
        outcome.Qra?.AddTo(line);
        line["curves"] = Curves(cell, folder, outcome);
        line["model"] = new JsonObject { ["key"] = cell.ModelKey, ["path"] = modelPath, ["training"] = training };
        if (cleanModelPath is not null) line["clean_model"] = new JsonObject { ["key"] = cell.CleanModelKey, ["path"] = cleanModelPath, ["training"] = cleanTraining };
        return LineEnd(line, cell, clock, outcome);
    }

    /// <summary>The fields every results line starts with: which cell it is (classifier and encoder cells alike).</summary>
    private static JsonObject LineStart(Cell cell, string architecture, double width) => new()
    {
        ["key"] = cell.Key,
        ["index"] = cell.Index,
        ["dataset"] = cell.Dataset,
        ["architecture"] = architecture,
        ["width"] = width,
        ["attack"] = cell.Attack.Label,
        ["poison_rate"] = cell.PoisonRate,
        ["defense"] = cell.Defense.Label,
        ["seed"] = cell.Seed,
    };

    /// <summary>The fields every results line ends with: the cell's config, its times and how much of the defence ran now.</summary>
    private static JsonObject LineEnd(JsonObject line, Cell cell, Stopwatch clock, Purification.Outcome outcome)
    {
        line["config"] = cell.Portable(cell.Config());
        line["plan_folder"] = cell.PlanFolder;
        line["wall_time_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
        line["defense_compute_seconds"] = Math.Round(outcome.Result.ComputeSeconds, 3);
        line["units_run"] = outcome.Result.UnitsRun;
        line["units_resumed"] = outcome.Result.UnitsResumed;
        if (outcome.Result.Findings is { Count: > 0 } findings) line["findings"] = findings.DeepClone();
        line["finished_at"] = DateTime.UtcNow.ToString("O");
        return line;
    }

    /// <summary>
    /// The attack a cached model was trained with (stored in it), its files where they are now, so a plan and cache that moved
    /// (see <see cref="PortablePaths"/>) measure ASR as before: the plan's own files (trigger image, clean model, a given
    /// encoder) as the plan names them now, and files training wrote into the cache (input-aware networks beside the model, a
    /// trained SSBA encoder in the cache's store), when missing where stored, found at the same place in the cache. Their
    /// content stays guarded: plan files by <see cref="ModelInputs"/>, the SSBA encoder by its recorded SHA-256.
    /// </summary>
    internal static Circumvent.Attacks.AttackDefinition? Relocated(Circumvent.Attacks.AttackDefinition? stored, Circumvent.Attacks.AttackDefinition planned,
        string modelPath, string cacheFolder)
    {
        if (stored is null) return null;
        string? InStore(string? path)
        {
            if (path is null || File.Exists(path)) return path;
            int at = path.Replace('\\', '/').LastIndexOf($"/{EncoderStoreFolder}/", StringComparison.Ordinal);
            return at < 0 ? path : Path.Combine(cacheFolder, path[(at + 1)..]);
        }
        return stored with
        {
            TriggerImage = planned.TriggerImage ?? stored.TriggerImage,
            CleanModel = planned.CleanModel ?? stored.CleanModel,
            Encoder = planned.Encoder ?? InStore(stored.Encoder),
            Generators = stored.Generators is { } g && !File.Exists(g) ? Circumvent.Attacks.InputAwareTraining.GeneratorsPath(modelPath) : stored.Generators,
        };
    }

    /// <summary>The cache's folder of pre-trained input-aware mask networks, shared by every recipe that can use them.</summary>
    public const string MaskStoreFolder = "input-aware-masks";
    public const string EncoderStoreFolder = "ssba-encoders";

    /// <summary>Where the cache keeps the model of <paramref name="key"/> (a cell's backdoored or QRA clean model).</summary>
    public static string ModelPath(string cacheFolder, string key) => Path.Combine(cacheFolder, key, "model.safetensors");

    /// <summary>The cached backdoored model, trained first when absent (once, even when several cells need it at the same time).</summary>
    private (string Path, JsonObject Training) Model(Cell cell) =>
        Cached(cell, cell.ModelKey, cell.ModelConfig(), recordInputs: true, "backdoored model", path => Train(cell, path, cell.AttackDefinition, cell.AdaptiveTsc));

    /// <summary>QRA's clean model of the cell's recipe, cached and trained exactly as a backdoored one, without an attack.</summary>
    private (string Path, JsonObject Training) CleanModel(Cell cell) =>
        Cached(cell, cell.CleanModelKey, cell.CleanModelConfig(), recordInputs: false, "clean model", path => Train(cell, path, attack: null, adaptive: null));

    /// <summary>Trains a classifier of the cell's recipe into <paramref name="path"/>; its summary: seconds, poisoned count, ACC/ASR.</summary>
    private JsonObject Train(Cell cell, string path, Circumvent.Attacks.AttackDefinition? attack, Circumvent.Method.Attacks.AdaptiveTscOptions? adaptive)
    {
        var trained = BackdoorTraining.Run(cell.Training, path, attack, cancellation, description: cell.Architecture.Description,
            adaptive: adaptive, log: message => observer.Log(cell, message), maskStore: Path.Combine(cacheFolder, MaskStoreFolder),
            encoderStore: Path.Combine(cacheFolder, EncoderStoreFolder));
        // A clean model (QRA's) has no backdoor scores: its ACC is the training's test accuracy, and it has no ASR.
        double acc = trained.Backdoor?.Acc ?? trained.TestAccuracy * 100;
        double? asr = trained.Backdoor?.Asr;
        observer.Log(cell, $"{(attack is null ? "clean model" : "backdoored model")} {Path.GetFileName(Path.GetDirectoryName(path))}: ACC {acc:F2}" +
                           (asr is { } a ? $" ASR {a:F2}" : "") + $" ({trained.ComputeSeconds:F0} s)");
        return new JsonObject
        {
            ["seconds"] = Math.Round(trained.ComputeSeconds, 3), // stopped and resumed calls included
            ["poisoned_count"] = trained.PoisonedCount,
            ["acc"] = acc,
            ["asr"] = asr,
        };
    }

    /// <summary>
    /// The model of <paramref name="key"/> from the cache, made by <paramref name="train"/> (given the path to write; it returns the
    /// summary kept as training.json) when absent — once, even when several cells or shards need it at the same time.
    /// </summary>
    private (string Path, JsonObject Training) Cached(Cell cell, string key, JsonObject config, bool recordInputs, string what, Func<string, JsonObject> train)
    {
        string path = ModelPath(cacheFolder, key);
        string folder = Path.GetDirectoryName(path)!;
        string summary = Path.Combine(folder, "training.json");
        lock (_modelLocks.GetOrAdd(key, _ => new object()))
        {
            if (_failedModels.TryGetValue(key, out var cause)) throw new ModelFailedEarlierException($"{what} {key}", cause);
            // Shards in other processes or on other machines share the cache: one trains a model, the
            // others wait on its lock file and reuse it (the in-process lock above serves --parallel).
            using var shared = File.Exists(path) ? null : ModelLock(cell, folder, key, what);
            bool trainedNow = !File.Exists(path);
            if (trainedNow)
            {
                AtomicText.Write(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                if (recordInputs) ModelInputs.Record(folder, cell);
                observer.Log(cell, $"training the {what} {key}");
                JsonObject result;
                try
                {
                    result = train(path);
                }
                catch (Exception e) when (!cancellation.IsCancellationRequested)
                {
                    _failedModels[key] = e;
                    throw;
                }
                AtomicText.Write(summary, result.ToJsonString());
            }
            var training = File.Exists(summary) ? JsonNode.Parse(File.ReadAllText(summary))!.AsObject() : new JsonObject();
            training["trained_now"] = trainedNow;
            return (path, training);
        }
    }

    private ExclusiveFileLock ModelLock(Cell cell, string folder, string key, string what)
    {
        Directory.CreateDirectory(folder);
        return ExclusiveFileLock.Acquire(Path.Combine(folder, "model.lock"),
            () => observer.Log(cell, $"waiting for another runner training the {what} {key}"), cancellation);
    }

    /// <summary>ACC/ASR/RA along every trained curve, [{round, stage, t: [...], acc: [...], asr: [...], ra: [...]}]; kept in the cell folder.</summary>
    private JsonArray Curves(Cell cell, string folder, Purification.Outcome outcome)
    {
        if (cell.CurvePoints < 2 || outcome.Result.Curves.Count == 0) return [];
        string path = Path.Combine(folder, "curves.json");
        if (File.Exists(path) && JsonNode.Parse(File.ReadAllText(path)) is JsonArray stored) return stored;
        int batch = outcome.Result.Config["options"]?["curve"]?["batch_size"]?.GetValue<int>() ?? 256;
        var curves = CurveSampling.LoadCurves(Path.GetDirectoryName(outcome.Result.Curves[0].Path)!);
        var samples = CurveSampling.Sample(curves, cell.CurvePoints, batch, outcome.Setup, cancellation,
            augment: CurveSampling.AugmentFrom(outcome.Result.Config));
        var array = new JsonArray();
        foreach (var group in samples.GroupBy(s => (s.Round, s.Stage)))
        {
            array.Add(new JsonObject
            {
                ["round"] = group.Key.Round,
                ["stage"] = group.Key.Stage,
                ["t"] = new JsonArray([.. group.Select(s => (JsonNode?)Math.Round(s.T, 6))]),
                ["acc"] = new JsonArray([.. group.Select(s => (JsonNode?)s.Scores.Acc)]),
                ["asr"] = new JsonArray([.. group.Select(s => s.Scores.Asr is double a ? (JsonNode?)a : null)]),
                ["ra"] = new JsonArray([.. group.Select(s => s.Scores.Ra is double r ? (JsonNode?)r : null)]),
            });
        }
        AtomicText.Write(path, array.ToJsonString());
        return array;
    }

    /// <summary>
    /// Forwards a defence's progress to the experiment's log: unit starts and ends, the scores of each stage, and
    /// about <see cref="EpochLinesPerUnit"/> epoch lines per unit (a 200-epoch curve runs for hours; a line per
    /// step would bury the log, none would leave it silent).
    /// </summary>
    internal sealed class UnitLog(Cell cell, IExperimentObserver observer) : IDefenseObserver
    {
        public const int EpochLinesPerUnit = 20;
        private readonly Stopwatch _unitClock = new();

        public void UnitStarted(DefenseUnit unit)
        {
            _unitClock.Restart();
            observer.Log(cell, $"{unit.Id}: running");
        }

        public void UnitFinished(DefenseUnit unit, bool resumed)
        {
            if (!resumed) observer.Log(cell, $"{unit.Id}: done in {_unitClock.Elapsed.TotalSeconds:F0} s");
        }

        public void EpochFinished(DefenseUnit unit, int epoch, int epochs, string detail)
        {
            if (IsLoggedEpoch(epoch, epochs)) observer.Log(cell, $"{unit.Id}: {detail}");
        }

        public void EvaluatedBefore(BackdoorScores scores) => observer.Log(cell, $"before: {scores}");

        public void Evaluated(StageEvaluation evaluation) => observer.Log(cell, $"{evaluation.Label}: {evaluation.Scores}");

        /// <summary>The first epoch (its speed and ETA), every ⌈epochs/20⌉-th, and the last.</summary>
        internal static bool IsLoggedEpoch(int epoch, int epochs) =>
            epoch == 1 || epoch == epochs || epoch % Math.Max(1, (epochs + EpochLinesPerUnit - 1) / EpochLinesPerUnit) == 0;
    }
}
