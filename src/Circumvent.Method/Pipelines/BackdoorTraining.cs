using Circumvent.Method.Attacks;
using Circumvent.Method.Runs;
using System.Globalization;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// Train → evaluate → save a (possibly backdoored) classifier: the pipeline behind `train`, `demo`
/// and the experiment runner. The attack, if any, is stored in the checkpoint so evaluation and
/// purification can rebuild the triggered test set.
/// </summary>
public static class BackdoorTraining
{
    /// <param name="Backdoor">ACC/ASR/RA on the test set when an attack was used, else null.</param>
    /// <param name="PoisonedCount">How many training samples were poisoned (0 without an attack; input-aware: per epoch).</param>
    /// <param name="Attack">The attack as stored in the checkpoint (input-aware: with its trigger networks' file), or null.</param>
    /// <param name="ComputeSeconds">Seconds the model cost, including calls that were stopped and resumed (<see cref="SecondsPath"/>).</param>
    public sealed record Outcome(TrainingResult Training, double TestAccuracy, string OutputPath, BackdoorScores? Backdoor = null, int PoisonedCount = 0,
        AttackDefinition? Attack = null, double ComputeSeconds = 0);

    /// <summary>Checkpoint metadata key of the attack definition (JSON).</summary>
    public const string AttackKey = "circumvent.attack";
    /// <summary>Metadata key of the record of which training samples were poisoned (<see cref="PoisoningRecord"/>).</summary>
    public const string PoisoningKey = "circumvent.poisoning";
    /// <summary>Metadata key of the adaptive attack's settings, present when the model is its result.</summary>
    public const string AdaptiveTscKey = "circumvent.adaptive_tsc";
    /// <summary>Metadata key of InputAware's training settings (per-batch counts, seeds, optimisers).</summary>
    public const string InputAwareTrainingKey = "circumvent.input_aware_training";
    /// <summary>Metadata key of SBL's split sizes (mixed, clean, defender), present when the model was trained with its schedule.</summary>
    public const string SblSplitsKey = "circumvent.sbl_splits";
    /// <summary>Metadata key of the test-time augmentation level the saved test accuracy used (absent: none).</summary>
    public const string TtaLevelKey = "circumvent.tta_level";
    /// <summary>Metadata key of SSBA's encoder record: its SHA-256, training settings and held-out round trip (JSON).</summary>
    public const string SsbaEncoderKey = "circumvent.ssba_encoder";

    /// <summary>Runs the training; a caller may wrap it to show progress (<paramref name="header"/> describes the run).</summary>
    public delegate TrainingResult Display(string header, Trainer trainer, Func<TrainingResult> train);

    /// <param name="attack">
    /// Optional backdoor attack: round(rate·N) non-target training samples get the trigger and the
    /// target label; the definition is saved under <see cref="AttackKey"/> and the poisoned count in
    /// the training metadata.
    /// </param>
    /// <param name="display">Wraps the training call (null = run it silently).</param>
    /// <param name="description">A described network to train instead of the built-in that config.Architecture names.</param>
    /// <param name="adaptive">
    /// Optional adaptive attack against TSC, run on the poisoned training set after training (needs
    /// <paramref name="attack"/>); the saved model is then its result and its settings are saved under <see cref="AdaptiveTscKey"/>.
    /// </param>
    /// <param name="log">Hears one line when the adaptive attack starts.</param>
    /// <param name="normalization">--normalize: the input normalisation to train with (recorded in the checkpoint); null = the description's "normalize", else the dataset's.</param>
    /// <param name="maskStore">
    /// Input-aware only: a folder that keeps pre-trained mask networks by what they depend on
    /// (<see cref="InputAwareTraining.MaskKeyJson"/>), so another recipe for the classifier reuses one instead
    /// of pre-training it again. Null: the mask's progress is kept beside the output and removed with the rest.
    /// </param>
    /// <param name="encoderStore">SSBA only: the same for trained StegaStamp encoders (<see cref="SsbaEncoderTraining.KeyJson"/>).</param>
    public static Outcome Run(TrainingConfig config, string outputPath, AttackDefinition? attack, CancellationToken cancellation, Display? display = null,
        ModelDescription? description = null, AdaptiveTscOptions? adaptive = null, Action<string>? log = null, string? maskStore = null,
        Normalization? normalization = null, string? encoderStore = null)
    {
        // Everything that can be checked cheaply is checked before the (long) training starts,
        // so a typo never costs a run and never touches the output.
        config.Validate();
        string output = OutputPaths.Check("--out", outputPath, "a file path such as model.safetensors");
        var saving = ProgressSaving.FromEnvironment();
        if (adaptive is not null && attack is null)
            throw new ArgumentException("--adaptive-tsc needs --attack: it trains the curve on the poisoned training set.");
        adaptive?.Validate();
        if (config.WhitenInit && (description is not null || config.Architecture != "airnet"))
            throw new ArgumentException($"--whiten-init starts airnet's 2×2 whitening conv; {(description is null ? $"--arch {config.Architecture}" : "a described network")} has none.");
        bool inputAware = attack?.Kind == AttackDefinition.InputAwareKind;
        if (adaptive is not null && inputAware)
            throw new ArgumentException("--adaptive-tsc does not support --attack input-aware: its curve trains on a fixed poisoned set, and input-aware poisons on the fly.");
        if (adaptive is not null && attack?.Sbl is not null)
            throw new ArgumentException("--adaptive-tsc does not combine with --sbl: each is its own way of training the attacked model.");
        // Input-aware's trigger networks do not exist yet: training makes them (and writes them beside the model).
        if (inputAware) attack = attack! with { Generators = null };
        var trigger = attack is null ? null : AttackFactory.Create(attack); // reads the trigger image now
        // SAPA's crafting takes minutes to hours: it reports its progress and keeps it until the model is saved.
        if (trigger is Circumvent.Attacks.Sapa.SapaAttack sapa) trigger = sapa.ForRun(log, SapaStatePath(output), cancellation);
        normalization ??= InputPreprocessing.Described(description);
        var dataset = DatasetSpec.Parse(config.Data).Load();
        var inputs = (normalization ?? dataset.Normalization).ForChannels(dataset.Train.Channels);
        // Indices of the training split actually used (all, or the --limit-train draw), so what was
        // poisoned can be recorded as indices into the dataset's own training split.
        int[]? sourceIndices = config.LimitTrain > 0 && config.LimitTrain < dataset.Train.Count
            ? Subsets.RandomIndices(dataset.Train.Count, config.LimitTrain, config.SeedFor(RandomStream.Shuffle))
            : null;
        var train = sourceIndices is null ? dataset.Train : dataset.Train.Subset(sourceIndices);
        // SBL: task 0 trains (and poisons) the mixed part only; task 1 the clean part; the defender's part is left out.
        var sbl = attack?.Sbl;
        ImageDataset? sblClean = null;
        SblTraining.Splits? sblSplits = null;
        if (sbl is not null)
        {
            sblSplits = SblTraining.Split(train.Count, sbl, PoisonSeed(config));
            sblClean = train.Subset(sblSplits.Clean);
            train = train.Subset(sblSplits.Mixed);
            var before = sourceIndices;
            sourceIndices = before is null ? sblSplits.Mixed : Array.ConvertAll(sblSplits.Mixed, i => before[i]);
        }
        PoisonedTrainingSet? poisoning = null;
        // SSBA poisons with a trained encoder: trained (or loaded) now, before the poisoned set is made.
        var ssba = attack?.Kind == AttackDefinition.SsbaKind
            ? SsbaEncoderStage.Prepare(attack, config, train, dataset.Test, output, encoderStore, saving, log, cancellation)
            : null;
        if (ssba is not null)
        {
            attack = ssba.Attack;
            trigger = new SsbaAttack(attack, ssba.Encoder);
        }
        if (trigger is not null)
        {
            if (trigger.TargetClass >= dataset.NumClasses)
                throw new ArgumentException($"--target {trigger.TargetClass} is outside {dataset.Name}'s classes 0..{dataset.NumClasses - 1}.");
            if (!inputAware)
            {
                poisoning = Poisoning.Poison(train, trigger, attack!.PoisonRate, PoisonSeed(config));
                train = poisoning.Data;
            }
        }
        int[] poisonedIndices = poisoning?.PoisonedIndices ?? [];
        var archConfig = description is null
            ? new ArchitectureConfig(config.Architecture, train.Channels, train.Height, train.Width, dataset.NumClasses, config.WidthMultiplier)
            : FitDescription(description, dataset);
        var architecture = Architectures.Create(archConfig);
        var parameters = architecture.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        // A --freeze or --lr-scale pattern that names nothing is a typo: refuse it before any training (input-aware's mask first).
        NamePattern.RequireMatches(config, [.. parameters.Parameters.Select(p => p.Name)]);

        var augmentation = Factories.CreateAugmentation(config, dataset.Augmentation);
        var trainOptions = BatchLoaderOptions.Training(config.BatchSize, config.SeedFor(RandomStream.Shuffle), augmentation);
        // Keep the last partial batch when the set is smaller than one batch (tiny --limit-train runs).
        if (train.Count < config.BatchSize) trainOptions = trainOptions with { DropLast = false };
        var trainSource = new BatchLoaderSource(new BatchLoader(train, inputs, trainOptions));
        var inputAwareTraining = inputAware ? new InputAwareTraining(attack!, config, train, inputs, trainOptions) : null;
        var testSource = new BatchLoaderSource(new BatchLoader(dataset.Test, inputs, BatchLoaderOptions.Evaluation(256)));

        if (config.WhitenInit) WhitenFirstConv(parameters, train, dataset.Normalization);
        var statsUpdater = Factories.CreateRunningStats(config, parameters);
        // From here on work is done that a resumed call does not redo; count its seconds across calls.
        using var ledger = new ComputeLedger(SecondsPath(output));
        // Progress is kept beside the output after every epoch, so a stopped run continues; a state saved
        // by a run with another config or attack is refused.
        // (SSBA's encoder hash is left out: the encoder's path and settings already fix it.)
        string runKey = config.ToJson() + ((ssba is null ? attack : attack! with { EncoderSha256 = null })?.ToJson() ?? "") + (normalization is null ? "" : inputs.OptionText());
        // Input-aware's mask pre-training (25 epochs, the longest part) keeps its own.
        // So does the adaptive attack's curve, which comes after the training.
        // Each state also records what the data and the files its key names hold, so it resumes after they moved.
        var dataDigest = new Lazy<string>(() => ImageDataset.Digest([dataset.Train, dataset.Test]));
        Func<string> InputsOf(string key) => Runs.InputContent.OfKey(key, dataDigest);
        string? adaptiveKey = adaptive is null ? null : runKey + AdaptiveTscJson(adaptive);
        var adaptiveState = adaptiveKey is null ? null : new Curves.EpochCheckpoint(output + ".adaptive-state", adaptiveKey, saving, InputsOf(adaptiveKey));
        var maskState = inputAwareTraining is null ? null : MaskState(inputAwareTraining, config, attack!, output, maskStore, saving, InputsOf);
        if (inputAwareTraining is not null)
        {
            // Runners sharing the store take turns on one mask, so the second reuses what the first pre-trained.
            using var storeLock = maskStore is null ? null : ExclusiveFileLock.Acquire(maskState!.FilePath + ".lock",
                () => log?.Invoke($"input-aware: another runner is pre-training this mask network ({maskState.FilePath}); waiting for it"), cancellation);
            log?.Invoke($"input-aware: training the mask network alone for {attack!.MaskEpochs} epochs ({inputAwareTraining.BatchesPerEpoch} batches each)"
                + (File.Exists(maskState!.FilePath) ? $", continuing from (or, when complete, reusing) {maskState.FilePath}" : ""));
            inputAwareTraining.PretrainMask(log is null ? null : new EpochLog(log), cancellation, maskState);
        }
        using var objective = inputAwareTraining?.CreateObjective();
        var trainer = new Trainer(architecture, parameters, config, statsUpdater)
        {
            Cancellation = cancellation,
            Objective = sbl is null ? objective : SblTraining.TaskZeroObjective(config, sbl),
        };
        // Input-aware's generator trains alongside the classifier, and the lookahead's average beside the weights: both are saved with them.
        var state = new TrainingStateFile(StatePath(output), parameters, statsUpdater, runKey, trainer.StateParts, saving) { InputDigest = InputsOf(runKey) };
        trainer.State = state;
        if (File.Exists(state.FilePath))
            log?.Invoke($"continuing the training saved in {state.FilePath}");
        // Without a live display (the experiment runner), one line per epoch on the log instead.
        if (display is null && log is not null) EpochLines.Attach(trainer, log, p => $" acc {100 * p.Accuracy:F2}%");
        string poisoningText = inputAwareTraining is not null
            ? $", input-aware attack: per batch {inputAwareTraining.BackdoorPerBatch} get their trigger → class {attack!.Target}, {inputAwareTraining.CrossPerBatch} another image's (labels kept)"
            : poisoning is null ? "" : $", {attack!.Kind} attack: {poisonedIndices.Length} poisoned{(trigger!.CleanLabel ? " (clean-label, labels kept)" : "")} → class {trigger.TargetClass}{(poisoning.NoiseIndices.Length > 0 ? $", {poisoning.NoiseIndices.Length} noise samples" : "")}";
        string what = description is null ? $"width {config.WidthMultiplier:g3}" : "described";
        var header = $"training {config.Architecture} ({what}) on {dataset.Name} ({train.Count} images{poisoningText}, {trainSource.BatchesPerEpoch} batches/epoch, {config.Optimizer} lr {config.LearningRate:g3}, {config.Schedule}; inputs {inputs.Describe()}, augmentation {augmentation.Describe()})";
        if (sbl is not null) header = $"sbl task 0 (SAM ρ {sbl.Rho:g3}): " + header;
        var result = display is null ? trainer.Train(trainSource) : display(header, trainer, () => trainer.Train(trainSource));
        TrainingStateFile? sblState = null;
        if (sbl is not null)
            (result, sblState) = SblTraining.RunTaskOne(architecture, parameters, statsUpdater, config, sbl, train, sblClean!, inputs, augmentation,
                SblStatePath(output), runKey, saving, display, log, cancellation, InputsOf);
        if (adaptive is not null)
        {
            log?.Invoke($"adaptive attack against TSC: un-aligning a copy, training the whole curve for {adaptive.Epochs} epochs (lr {adaptive.LearningRate:g3}) on the poisoned set"
                + (File.Exists(adaptiveState!.Path) ? $", continuing from {adaptiveState.Path}" : ""));
            parameters = AdaptiveTscAttack.Run(architecture, parameters, train, inputs, adaptive, log is null ? null : new EpochLog(log),
                cancellation, adaptiveState, dataset.Augmentation);
        }
        int poisonedCount = poisonedIndices.Length;
        if (inputAwareTraining is not null)
        {
            // The networks go beside the model first, so a saved model always finds them.
            string generators = InputAwareTraining.GeneratorsPath(output);
            inputAwareTraining.Networks.Save(generators);
            attack = attack! with { Generators = generators };
            trigger = new InputAwareAttack(attack, inputAwareTraining.Networks);
            poisonedCount = inputAwareTraining.BackdoorPerBatch * inputAwareTraining.BatchesPerEpoch;
        }
        int tta = config.TtaLevel ?? 0;
        BackdoorScores? scores = trigger is null
            ? null
            : BackdoorMetrics.Evaluate(architecture, parameters, dataset.Test, inputs, trigger, ttaLevel: tta, cancellation: cancellation);
        double accuracy = scores is null ? Evaluator.Accuracy(architecture, parameters, testSource, tta, cancellation) : scores.Acc / 100;

        var extra = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["circumvent.test_accuracy"] = accuracy.ToString("R", CultureInfo.InvariantCulture),
        };
        // Which test-time augmentation the accuracy (and ASR/RA) used, when any.
        if (tta != 0) extra[TtaLevelKey] = tta.ToString(CultureInfo.InvariantCulture);
        if (attack is not null) extra[AttackKey] = attack.ToJson();
        if (adaptive is not null) extra[AdaptiveTscKey] = AdaptiveTscJson(adaptive);
        if (poisoning is not null) extra[PoisoningKey] = PoisoningRecord.ToJson(poisoning, sourceIndices, PoisonSeed(config));
        if (inputAwareTraining is not null) extra[InputAwareTrainingKey] = inputAwareTraining.SettingsJson();
        if (sblSplits is not null) extra[SblSplitsKey] = SblSplitsJson(sblSplits, sblClean!.Count);
        if (ssba is not null) extra[SsbaEncoderKey] = ssba.RecordJson;

        new ModelCheckpoint
        {
            Architecture = archConfig,
            Parameters = parameters,
            ClassNames = dataset.ClassNames,
            NormalizationMean = inputs.Mean,
            NormalizationStd = inputs.Std,
            TrainingJson = TrainingRecord(config, augmentation, attack is null ? null : poisonedCount),
            Extra = extra,
            BatchesTracked = new Dictionary<string, long>(statsUpdater.BatchesTracked, StringComparer.Ordinal),
        }.Save(output);
        double seconds = ledger.Stop();
        state.Delete();
        if (maskStore is null) maskState?.Delete();
        ssba?.State?.Delete();
        adaptiveState?.Delete();
        sblState?.Delete();
        if (File.Exists(SapaStatePath(output))) File.Delete(SapaStatePath(output));
        ledger.Delete();
        return new Outcome(result, accuracy, output, scores, poisonedCount, attack, seconds);
    }

    // The mask pre-training's progress: beside the output, or in the store under the hash of what it depends on.
    private static TrainingStateFile MaskState(InputAwareTraining training, TrainingConfig config, AttackDefinition attack, string output, string? maskStore,
        ProgressSaving saving, Func<string, Func<string>> inputsOf)
    {
        string key = InputAwareTraining.MaskKeyJson(config, attack);
        var digest = inputsOf(key);
        string path = output + ".mask-state";
        if (maskStore is not null)
        {
            Directory.CreateDirectory(maskStore);
            path = Runs.InputContent.StorePath(maskStore, key, digest, ".mask-state");
        }
        return new TrainingStateFile(path, training.Networks.Mask, training.MaskStats, key, saving: saving) { InputDigest = digest };
    }

    /// <summary>The first images airbench whitens from.</summary>
    public const int WhiteningImages = 5000;

    /// <summary>
    /// airnet's --whiten-init: its first conv from the patch whitening of the first <see cref="WhiteningImages"/> training
    /// images, normalised as training sees them, before the first step (a resumed run then restores the saved weights).
    /// </summary>
    private static void WhitenFirstConv(ParameterSet parameters, ImageDataset train, Normalization normalization)
    {
        using var scope = Circumvent.Engine.Memory.TensorScope.Open();
        int[] first = [.. Enumerable.Range(0, Math.Min(WhiteningImages, train.Count))];
        AirNetWhitening.Initialize(parameters, ImageTensors.ToTensor(train, first, normalization));
    }

    /// <summary>Where a training run writing <paramref name="outputPath"/> keeps its progress until the model is saved.</summary>
    public static string StatePath(string outputPath) => outputPath + ".train-state";

    /// <summary>Where SAPA's poison crafting keeps its progress until the model is saved.</summary>
    public static string SapaStatePath(string outputPath) => outputPath + ".sapa-state";

    /// <summary>Where SBL's task 1 keeps its progress until the model is saved.</summary>
    public static string SblStatePath(string outputPath) => outputPath + ".sbl-state";

    private static string SblSplitsJson(SblTraining.Splits splits, int clean) =>
        new JsonObject { ["mixed"] = splits.Mixed.Length, ["clean"] = clean, ["defender"] = splits.Defender.Length }.ToJsonString();

    /// <summary>Where it counts the seconds spent on it by calls that were stopped (see <see cref="ComputeLedger"/>).</summary>
    public static string SecondsPath(string outputPath) => outputPath + ".train-seconds";

    /// <summary>One log line per finished epoch of a stage (mask pre-training, the adaptive attack's curve).</summary>
    private sealed class EpochLog(Action<string> log) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.IsEpochEnd) log($"{p.Stage} epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} lr {p.LearningRate:g3} {p.ImagesPerSecond:F0} img/s");
        }
    }

    /// <summary>The description's config, after checking it takes the dataset's images and classes.</summary>
    private static ArchitectureConfig FitDescription(ModelDescription description, DatasetPair dataset)
    {
        var config = description.ToConfig();
        ArchitectureFit.Check($"--description '{description.Name}'", config, dataset.Name, dataset.Test);
        return config;
    }

    /// <summary>The adaptive attack's settings as stored under <see cref="AdaptiveTscKey"/>.</summary>
    public static string AdaptiveTscJson(AdaptiveTscOptions options) => System.Text.Json.JsonSerializer.Serialize(options);

    /// <summary>The poisoning draw's own seed, independent of the init/shuffle/dropout streams.</summary>
    public static int PoisonSeed(TrainingConfig config) => unchecked(config.Seed * 1_000_003 + 104_729);

    /// <summary>
    /// The training config JSON plus what it resolved to: "augmentation" (the dataset's recipe actually used, e.g.
    /// "crop 3" for digits) and, with an attack, "poisoned_count" (TrainingConfig.FromJson ignores both).
    /// </summary>
    private static string TrainingRecord(TrainingConfig config, Augmentation augmentation, int? poisonedCount)
    {
        var node = JsonNode.Parse(config.ToJson())!.AsObject();
        node["augmentation"] = new JsonObject
        {
            ["crop_padding"] = augmentation.CropPadding,
            ["horizontal_flip"] = augmentation.HorizontalFlip,
        };
        if (poisonedCount is int count) node["poisoned_count"] = count;
        return node.ToJsonString();
    }
}
