using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Experiments.Plans;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Method.Runs;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Experiments.Running;

/// <summary>
/// An encoder plan's cell: the clean encoder (a given file, or SimCLR pre-trained once and cached like any model),
/// the attacked encoder (BadEncoder or CTRL from the clean one, cached and shared by every defence), the defence with
/// the self-supervised objective and defaults (resumable, as a classifier's), then every downstream set scored before
/// and after. Besides the classifier cells' files:
/// <code>
/// CACHE/CLEANKEY/model.safetensors   a pre-trained clean encoder (with "encoder": {"pretrain": …})
/// CACHE/MODELKEY/references/refN.ppm  BadEncoder's references taken from a dataset ({data, class, index})
/// CACHE/encoder-scores/KEY.json      kNN and probe scores of one set of weights (KEY: their SHA-256 and the scoring), so
///                                    the attacked encoder is scored once for all its defences
/// </code>
/// </summary>
internal sealed partial class CellRunner
{
    public const string ScoresFolder = "encoder-scores";

    // The pre-training and downstream sets, loaded once per run (GTSRB is thousands of PNG files).
    private readonly ConcurrentDictionary<string, Lazy<DatasetPair>> _datasets = new(StringComparer.Ordinal);

    private DatasetPair Load(string spec) => _datasets.GetOrAdd(spec, s => new Lazy<DatasetPair>(() => DatasetSpec.Parse(s).Load())).Value;

    private JsonObject RunEncoder(Cell cell)
    {
        var clock = Stopwatch.StartNew();
        var plan = cell.Encoder!;
        var attack = cell.Attack.Encoder!;
        var (cleanPath, cleanTraining, cleanCommand) = CleanEncoder(cell);
        var (modelPath, training, modelCommand) = attack.Kind == EncoderAttack.None
            ? (cleanPath, cleanTraining, cleanCommand)
            : AttackedEncoder(cell, cleanPath);

        string folder = Path.Combine(outFolder, "runs", cell.RunKey);
        Directory.CreateDirectory(folder);
        // The defence scores its stages on the attack's downstream set (the first one for none); every set is scored below.
        var scoredOn = attack.Downstream is { } name ? plan.Downstream(name) : plan.Downstreams[0];
        var probe = plan.Probe with { Seed = cell.Seed };
        string purifiedPath = Path.Combine(folder, "purified.safetensors");
        var request = new PurificationRequest(modelPath, cell.Dataset, purifiedPath, ReportPath: null,
            RunFolder: Path.Combine(folder, "purified.safetensors.run"), cell.Defense.Create(), cell.CleanFraction, cell.Seed,
            ResolveAttack: stored => stored, Objective: EncoderPurification.SimClr,
            // CTRL's encoder records no classifier attack: its stages are scored with its trigger on the downstream set.
            Encoder: new EncoderScoring(scoredOn.Spec, probe, Trigger: attack.Kind == EncoderAttack.Ctrl
                ? new EncoderTrigger(attack.Target, test => attack.CtrlPoisoning.TriggeredNonTarget(test), attack.TriggerConfig()?.ToJsonString() ?? "ctrl") : null));
        var outcome = Purification.Run(request, new UnitLog(cell, observer), log: null, cancellation);

        var checkpoint = EncoderCheckpoint.Load(modelPath);
        var before = Scores(cell, modelPath);
        var after = Scores(cell, outcome.OutputPath);
        var line = LineStart(cell, checkpoint.Architecture.Name, checkpoint.Architecture.WidthMultiplier);
        line["attack_kind"] = attack.Kind;
        line["target"] = attack.Kind == EncoderAttack.None ? null : attack.Target;
        line["attack_downstream"] = attack.Downstream;
        foreach (var (suffix, scores) in new[] { ("before", before), ("after", after) })
        {
            line[$"knn_{suffix}"] = scores["knn"]?.DeepClone();
            if (attack.Kind == EncoderAttack.Ctrl) line[$"knn_asr_{suffix}"] = scores["knn_asr"]?.DeepClone();
            foreach (var d in plan.Downstreams)
            {
                line[$"acc_{d.Name}_{suffix}"] = scores[$"acc_{d.Name}"]?.DeepClone();
                line[$"asr_{d.Name}_{suffix}"] = scores[$"asr_{d.Name}"]?.DeepClone();
            }
        }
        // The weights each score set came from: the backdoored encoder before, the defence's output after.
        line["scored"] = new JsonObject { ["before"] = before["model_sha256"]?.DeepClone(), ["after"] = after["model_sha256"]?.DeepClone() };
        var stages = new JsonObject();
        PurificationReport.AddScores(stages, outcome.Result);
        line["stages_scored_on"] = scoredOn.Name;
        line["rounds"] = stages["rounds"]!.DeepClone();
        line["curves"] = Curves(cell, folder, outcome);
        line["model"] = new JsonObject { ["key"] = cell.ModelKey, ["path"] = modelPath, ["training"] = training, ["made_by"] = modelCommand };
        line["clean_encoder"] = new JsonObject { ["key"] = cell.CleanEncoderKey, ["path"] = cleanPath, ["training"] = cleanTraining.DeepClone(), ["made_by"] = cleanCommand };
        line["purify_command"] = PurifyCommand(cell, modelPath, scoredOn, probe, purifiedPath);
        return LineEnd(line, cell, clock, outcome);
    }

    /// <summary>The clean encoder: the plan's file as it is, or SimCLR pre-training cached under its settings' key.</summary>
    private (string Path, JsonObject Training, string Command) CleanEncoder(Cell cell)
    {
        var clean = cell.Encoder!.Clean;
        if (clean.File is { } file)
        {
            if (!File.Exists(file)) throw new ArgumentException($"encoder.file '{file}' not found.");
            return (file, new JsonObject { ["given_file"] = true, ["sha256"] = Sha256Hex.OfFile(file) }, clean.Command(file));
        }
        var (path, training) = Cached(cell, cell.CleanEncoderKey, clean.Config(), recordInputs: false, "clean encoder", path =>
        {
            var run = SimClrPretraining.Run(clean.Pretraining!, new SimClrPretraining.Settings(), path, cancellation, log: m => observer.Log(cell, m));
            observer.Log(cell, $"clean encoder: kNN {run.KnnAccuracy * 100:F2}% ({run.ComputeSeconds:F0} s)");
            return new JsonObject { ["seconds"] = Math.Round(run.ComputeSeconds, 3), ["knn"] = Math.Round(run.KnnAccuracy * 100, 4) };
        });
        return (path, training, clean.Command(path));
    }

    /// <summary>The encoder attacked by the cell's BadEncoder or CTRL, trained from the clean one and cached under the cell's model key.</summary>
    private (string Path, JsonObject Training, string Command) AttackedEncoder(Cell cell, string cleanPath)
    {
        var attack = cell.Attack.Encoder!;
        var config = attack.TrainingFor(cell.Seed);
        string modelPath = ModelPath(cacheFolder, cell.ModelKey);
        var references = ReferencePaths(attack, Path.GetDirectoryName(modelPath)!);
        var (path, training) = Cached(cell, cell.ModelKey, cell.ModelConfig(), recordInputs: true, $"{attack.Kind} encoder", path =>
        {
            if (attack.Kind == EncoderAttack.BadEncoder)
            {
                WriteReferences(cell, references);
                var run = BadEncoderTraining.Run(config, attack.BadEncoderSettings(cleanPath, references), path, cancellation, log: m => observer.Log(cell, m));
                return new JsonObject
                {
                    ["seconds"] = Math.Round(run.ComputeSeconds, 3),
                    ["triggered_to_reference_cosine"] = run.After.TriggeredToReference,
                    ["clean_to_clean_encoder_cosine"] = run.After.CleanToCleanEncoder,
                };
            }
            var ctrl = SimClrPretraining.Run(config, new SimClrPretraining.Settings(), path, cancellation, log: m => observer.Log(cell, m),
                ctrl: attack.CtrlPoisoning, initialEncoder: cleanPath);
            return new JsonObject
            {
                ["seconds"] = Math.Round(ctrl.ComputeSeconds, 3),
                ["poisoned_count"] = ctrl.Poisoned,
                ["knn"] = Math.Round(ctrl.KnnAccuracy * 100, 4),
                ["knn_asr"] = ctrl.KnnAttackSuccess is { } a ? Math.Round(a * 100, 4) : null,
            };
        });
        return (path, training, AttackCommand(attack, config, cleanPath, references, path));
    }

    /// <summary>BadEncoder's reference files: the plan's files, and for dataset images entry/references/refN.ppm.</summary>
    private static List<string> ReferencePaths(EncoderAttack attack, string entry) =>
        [.. attack.References.Select((r, n) => r.File ?? Path.Combine(entry, "references", $"ref{n}.ppm"))];

    /// <summary>Writes the references taken from a dataset ({data, class, index}) as PPM files (inside the model's lock).</summary>
    private void WriteReferences(Cell cell, IReadOnlyList<string> paths)
    {
        foreach (var (reference, path) in cell.Attack.Encoder!.References.Zip(paths))
        {
            if (reference.File is not null || File.Exists(path)) continue;
            var train = Load(reference.Data!).Train;
            int[] ofClass = [.. Enumerable.Range(0, train.Count).Where(i => train.Labels[i] == reference.Class)];
            if (reference.Index >= ofClass.Length)
                throw new ArgumentException($"attack '{cell.Attack.Label}': reference {{class {reference.Class}, index {reference.Index}}}: {reference.Data} has {ofClass.Length} training images of class {reference.Class}.");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temporary = path + ".tmp";
            Netpbm.Write(temporary, train.Channels, train.Height, train.Width, train.Image(ofClass[reference.Index]));
            File.Move(temporary, path, overwrite: true);
        }
    }

    /// <summary>
    /// kNN accuracy on the pre-training set and every downstream set's probe ACC (and ASR on the attack's downstream set)
    /// of the encoder in <paramref name="modelPath"/>, kept under the hash of what scoring reads (the weights, the network
    /// and the input normalisation) and the scoring: an encoder is scored once, however many files hold it (a `none`
    /// defence's output is the attacked encoder's weights in a new file), with the data paths relative to the plan (a moved cache keeps its
    /// scores). "model_sha256" names the file asked about.
    /// </summary>
    private JsonObject Scores(Cell cell, string modelPath)
    {
        var plan = cell.Encoder!;
        var attack = cell.Attack.Encoder!;
        string sha = Sha256Hex.OfFile(modelPath);
        var probe = plan.Probe with { Seed = cell.Seed };
        var checkpoint = EncoderCheckpoint.Load(modelPath);
        var pretraining = Load(cell.Dataset);
        var normalization = InputPreprocessing.For(modelPath, checkpoint, pretraining.Name, pretraining.Normalization, null, m => observer.Log(cell, m)).Normalization;
        var identity = new JsonObject
        {
            ["weights_sha256"] = WeightsSha256(checkpoint.Architecture.ToString(), checkpoint.Parameters, normalization),
            ["data"] = cell.Dataset, ["scoring"] = plan.ScoringConfig(), ["probe_seed"] = cell.Seed, ["trigger"] = attack.TriggerConfig(),
        };
        // CTRL's trigger lives on the pre-training set too: its kNN ASR is scored (the authors' knn_monitor_fre; Table 13's
        // headline). Recorded in the identity so scores cached before it was measured are not taken for ones with it.
        bool knnAsr = attack.Kind == EncoderAttack.Ctrl;
        if (knnAsr) identity["knn_asr"] = true;
        string path = Path.Combine(cacheFolder, ScoresFolder, Cell.Hash(cell.Portable(identity)) + ".json");
        if (File.Exists(path))
        {
            var cached = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            cached["model_sha256"] = sha;
            return cached;
        }

        observer.Log(cell, $"scoring {modelPath}: kNN and {plan.Downstreams.Count} downstream set(s)");
        var network = checkpoint.Encoder!;
        var scores = new JsonObject
        {
            ["model_sha256"] = sha,
            ["weights_sha256"] = identity["weights_sha256"]!.GetValue<string>(),
        };
        var knnSet = EncoderTestSet.Create(normalization, pretraining, null, null) with
        {
            KnnTriggered = knnAsr ? EncoderTestSet.TargetLabelled(attack.CtrlPoisoning.TriggeredNonTarget(pretraining.Test), attack.Target) : null,
        };
        // One extraction per dataset across the kNN and every downstream set (a CIFAR-10 downstream is the kNN memory's images).
        var features = new EncoderFeatures(network, checkpoint.Parameters, normalization, cancellation);
        var knnScores = EncoderEvaluation.Evaluate(features, knnSet, probe, cancellation: cancellation);
        scores["knn"] = knnScores.Knn;
        if (knnAsr) scores["knn_asr"] = knnScores.KnnAsr;
        foreach (var d in plan.Downstreams)
        {
            var data = Load(d.Spec);
            var a = checkpoint.Architecture;
            if (data.Train.Channels != a.InChannels || data.Train.Height != a.Height || data.Train.Width != a.Width)
                throw new ArgumentException($"downstreams.{d.Name}: {data.Name} has {data.Train.Channels}×{data.Train.Height}×{data.Train.Width} images; the encoder takes {a.InChannels}×{a.Height}×{a.Width}.");
            bool attacked = attack.Downstream == d.Name;
            var set = new EncoderTestSet
            {
                Normalization = normalization,
                DownstreamTrain = data.Train,
                DownstreamTest = data.Test,
                Triggered = attacked ? TriggeredNonTarget(cell, data) : null,
                TargetClass = attacked ? attack.Target : -1,
            };
            var p = EncoderEvaluation.Evaluate(features, set, probe, cancellation: cancellation).Probes[0];
            scores[$"acc_{d.Name}"] = p.Acc;
            scores[$"asr_{d.Name}"] = p.Asr;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicText.Write(path, scores.ToJsonString());
        return scores;
    }

    /// <summary>SHA-256 of the network's description, every tensor's name, shape and values (in name order) and the input normalisation.</summary>
    internal static string WeightsSha256(string network, Circumvent.Models.ParameterSet parameters, Normalization normalization)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        void Text(string text) => hash.AppendData(System.Text.Encoding.UTF8.GetBytes(text + "\n"));
        Text(network);
        foreach (var entry in parameters.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            Text($"{entry.Name} {entry.Role} ({string.Join(",", entry.Tensor.Shape.ToArray())})");
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(entry.Tensor.Span));
        }
        Text("mean " + string.Join(",", normalization.Mean.Select(v => N(v))) + " std " + string.Join(",", normalization.Std.Select(v => N(v))));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The downstream test images outside the target class with the attack's trigger: BadEncoder's patch or CTRL's frequency trigger.</summary>
    private static ImageDataset TriggeredNonTarget(Cell cell, DatasetPair data)
    {
        var attack = cell.Attack.Encoder!;
        if (attack.Target >= data.NumClasses)
            throw new ArgumentException($"attack '{cell.Attack.Label}': target {attack.Target} is outside {attack.Downstream}'s classes 0..{data.NumClasses - 1}.");
        return attack.Kind == EncoderAttack.Ctrl
            ? attack.CtrlPoisoning.TriggeredNonTarget(data.Test)
            : Poisoning.TriggeredNonTarget(data.Test, new BadNetAttack(attack.Patch! with { Target = attack.Target }));
    }

    private static string N(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The `circumvent pretrain` command that makes the attacked encoder.</summary>
    private static string AttackCommand(EncoderAttack attack, Circumvent.Training.TrainingConfig c, string clean, IReadOnlyList<string> references, string output)
    {
        string recipe = $"--data {c.Data} --epochs {N(c.Epochs)} --lr {N(c.LearningRate)} --batch-size {c.BatchSize} --weight-decay {N(c.WeightDecay)} --seed {c.Seed}" +
                        (c.LimitTrain > 0 ? $" --limit-train {c.LimitTrain}" : "");
        return attack.Kind == EncoderAttack.BadEncoder
            ? $"circumvent pretrain --method badencoder --encoder {clean} {string.Join(" ", references.Select(r => "--reference " + r))} --target {attack.Target} " +
              $"--patch-size {attack.Patch!.PatchSize} --patch-position {attack.Patch.PatchColumn},{attack.Patch.PatchRow} --lambda1 {N(attack.Lambda1)} --lambda2 {N(attack.Lambda2)} {recipe} --out {output}"
            : $"circumvent pretrain --method ctrl --encoder {clean} --target {attack.Target} --poison-rate {N(attack.PoisonRate)} --magnitude {N(attack.Magnitude)} " +
              $"--warmup-epochs {N(c.WarmupEpochs)} {recipe} --out {output}";
    }

    /// <summary>The `circumvent purify` command this cell's defence is (its stages scored on <paramref name="scoredOn"/>).</summary>
    private static string PurifyCommand(Cell cell, string model, DownstreamChoice scoredOn, ProbeOptions probe, string output)
    {
        var knobs = cell.Defense.Settings.Select(kv =>
        {
            var knob = DefenseRegistry.AllKnobs.First(k => k.Field == kv.Key);
            return knob.Kind == KnobKind.Switch ? knob.Option : $"{knob.Option} {Convert.ToString(kv.Value, CultureInfo.InvariantCulture)}";
        });
        return $"circumvent purify --model {model} --data {cell.Dataset} --objective simclr --defense {string.Join(" ", [cell.Defense.Name, .. knobs])} " +
               $"--clean-fraction {N(cell.CleanFraction)} --seed {cell.Seed} --downstream {scoredOn.Spec} --probe {probe.Kinds[0].ToString().ToLowerInvariant()} " +
               $"--probe-epochs {probe.Epochs} --probe-lr {N(probe.LearningRate)} --out {output}";
    }
}
