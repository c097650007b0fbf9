using Circumvent.Method.Runs;
using System.Globalization;
using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Attacks;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// SimCLR pre-training of an encoder → kNN accuracy on the dataset's test split → an encoder checkpoint: the
/// pipeline behind `circumvent pretrain --method simclr`. The one <see cref="Trainer"/> (and so the one training
/// loop and resume mechanism) runs a <see cref="SimClrNetwork"/> under <see cref="SimClrObjective"/> on a loader
/// that gives two <see cref="ContrastiveAugmentation.SimClr"/> views per image. Labels are never used for
/// training, only by the kNN report.
/// With a <see cref="CtrlPoisoning"/> it is CTRL's attack (`--method ctrl`): the same pre-training on a copy of the set whose
/// first target-class images carry the frequency trigger, optionally started from a clean encoder, and the report adds
/// the kNN ASR (the clean set is the kNN memory).
/// </summary>
public static class SimClrPretraining
{
    /// <summary>Checkpoint metadata key of the network's role ("encoder").</summary>
    public const string RoleKey = ModelCheckpoint.RoleKey;
    public const string EncoderRole = ModelCheckpoint.EncoderRole;
    /// <summary>Metadata key of the SimCLR settings (head sizes, temperature, augmentation, kNN).</summary>
    public const string SimClrKey = "circumvent.simclr";

    /// <summary>The authors' CIFAR-10 normalisation for SimCLR (std differs from the classifiers' 0.247/0.243/0.261).</summary>
    public static Normalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2023f, 0.1994f, 0.2010f]);

    /// <param name="Temperature">NT-Xent's τ.</param>
    /// <param name="KnnK">Neighbours of the kNN monitor.</param>
    /// <param name="KnnTemperature">The kNN monitor's vote temperature.</param>
    /// <param name="LimitTest">kNN on the first N test images only (0 = all).</param>
    public sealed record Settings(float Temperature = SimClrObjective.DefaultTemperature, int KnnK = KnnMonitor.DefaultK,
        float KnnTemperature = KnnMonitor.DefaultTemperature, int LimitTest = 0)
    {
        public void Validate()
        {
            if (!(Temperature > 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"--temperature must be a positive number, got {Temperature}.");
            if (KnnK < 1) throw new ArgumentException($"--knn-k must be at least 1, got {KnnK}.");
            if (!(KnnTemperature > 0) || float.IsInfinity(KnnTemperature)) throw new ArgumentException($"--knn-temperature must be a positive number, got {KnnTemperature}.");
            if (LimitTest < 0) throw new ArgumentException($"--limit-test must be ≥ 0 (0 = all), got {LimitTest}.");
        }
    }

    /// <param name="KnnAccuracy">kNN accuracy in [0, 1] on the test split, the (clean) training images as memory.</param>
    /// <param name="KnnAttackSuccess">CTRL: share of triggered non-target test images the kNN puts in the target class (null without poisoning).</param>
    /// <param name="Poisoned">CTRL: how many training images carry the trigger.</param>
    public sealed record Outcome(TrainingResult Training, double KnnAccuracy, string OutputPath, double ComputeSeconds,
        double? KnnAttackSuccess = null, int Poisoned = 0);

    /// <summary>Metadata key of CTRL's poisoning record.</summary>
    public const string CtrlKey = "circumvent.ctrl";

    /// <summary>
    /// CTRL's settings (ctrl.py + train_freq; paper App. L for CIFAR-10): SGD lr 0.06, momentum 0.9, weight decay 5e-4,
    /// batch 512, 10 warm-up epochs then cosine, 800 epochs.
    /// </summary>
    public static TrainingConfig CtrlDefaults => Defaults with
    {
        Epochs = 800, BatchSize = 512, LearningRate = 0.06, Momentum = 0.9, Nesterov = false, WeightDecay = 5e-4, Optimizer = "sgd",
        Schedule = "cosine", WarmupEpochs = 10,
    };

    /// <summary>
    /// CTRL's warm-up for a run of <paramref name="epochs"/>: the same share of the run as its 10 of 800 epochs (0.25 of a
    /// 20-epoch run). Before session 19 a run longer than 10 epochs warmed up for 10, half of a 20-epoch run.
    /// </summary>
    public static double CtrlWarmup(double epochs) => epochs * CtrlDefaults.WarmupEpochs / CtrlDefaults.Epochs;

    /// <summary>SimCLR's defaults as in SimCLR CIFAR codebases (BadEncoder's pre-training): Adam 1e-3, weight decay 1e-6, batch 256, constant rate.</summary>
    public static TrainingConfig Defaults { get; } = new()
    {
        Architecture = "resnet18", Data = "cifar10", Epochs = 200, BatchSize = 256, LearningRate = 1e-3, WeightDecay = 1e-6,
        Optimizer = "adam", Schedule = "none", Augment = true,
    };

    /// <param name="ctrl">CTRL's poisoning of the pre-training set (null: clean SimCLR).</param>
    /// <param name="initialEncoder">An encoder checkpoint to start from instead of a fresh initialisation (its architecture and head are used).</param>
    public static Outcome Run(TrainingConfig config, Settings settings, string outputPath, CancellationToken cancellation,
        BackdoorTraining.Display? display = null, Action<string>? log = null, CtrlPoisoning? ctrl = null, string? initialEncoder = null)
    {
        config.Validate();
        settings.Validate();
        string output = OutputPaths.Check("--out", outputPath, "a file path such as encoder.safetensors");
        var saving = ProgressSaving.FromEnvironment();
        var dataset = DatasetSpec.Parse(config.Data).Load();
        if (dataset.Train.Channels != 3)
            throw new ArgumentException($"--method simclr needs colour images (its augmentation jitters hue and saturation); {dataset.Name} has {dataset.Train.Channels} channel(s).");
        var inputs = dataset.Name == "cifar10" ? Cifar10 : dataset.Normalization;
        var train = config.LimitTrain > 0 && config.LimitTrain < dataset.Train.Count
            ? dataset.Train.Subset(Subsets.RandomIndices(dataset.Train.Count, config.LimitTrain, config.SeedFor(RandomStream.Shuffle)))
            : dataset.Train;
        var test = settings.LimitTest > 0 && settings.LimitTest < dataset.Test.Count
            ? dataset.Test.Subset([.. Enumerable.Range(0, settings.LimitTest)])
            : dataset.Test;
        var start = initialEncoder is null ? null : EncoderCheckpoint.Load(initialEncoder);
        if (start is not null)
        {
            config = config with { Architecture = start.Architecture.Name, WidthMultiplier = start.Architecture.WidthMultiplier };
            if (!start.InputShape.SequenceEqual(new[] { train.Channels, train.Height, train.Width }))
                throw new ArgumentException($"--data {dataset.Name} has {train.Channels}×{train.Height}×{train.Width} images; the encoder '{initialEncoder}' takes {string.Join("×", start.InputShape)}.");
        }
        var archConfig = start?.Architecture ?? new ArchitectureConfig(config.Architecture, train.Channels, train.Height, train.Width, dataset.NumClasses, config.WidthMultiplier);
        if (Architectures.Create(archConfig) is not IFeatureExtractor encoder)
            throw new ArgumentException($"--arch {config.Architecture} cannot be a SimCLR encoder: its logits are not one linear layer on a feature vector (use resnet18, preact-resnet18, vgg11/16/19 or cnn-small).");
        var network = start?.Network as SimClrNetwork ?? new SimClrNetwork(encoder);
        var parameters = start?.Parameters ?? network.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));

        int[] poisoned = [];
        var pretraining = ctrl is null ? train : ctrl.Poison(train, out poisoned);
        if (ctrl is not null) log?.Invoke($"CTRL: {poisoned.Length} of {train.Count} images (class {ctrl.Target}) carry {ctrl.Trigger.Describe()}");
        var augmentation = ctrl is null ? ContrastiveAugmentation.SimClr : CtrlPoisoning.Augmentation;
        var options = BatchLoaderOptions.Training(config.BatchSize, config.SeedFor(RandomStream.Shuffle)) with { Views = 2, ViewAugmentation = augmentation };
        if (train.Count < config.BatchSize) options = options with { DropLast = false };
        var source = new BatchLoaderSource(new BatchLoader(pretraining, inputs, options));

        var statsUpdater = new RunningStatsUpdater(parameters);
        using var ledger = new ComputeLedger(BackdoorTraining.SecondsPath(output));
        string settingsJson = SettingsJson(network, settings, augmentation);
        // A saved state is refused when anything the training depends on differs (not the kNN settings, which only the report uses).
        string runKey = config.ToJson() + $"simclr τ {settings.Temperature:R}, head {network.Hidden}→{network.Projection}, {augmentation.Describe()}"
            + (ctrl is null ? "" : ctrl.ToJson(poisoned.Length));
        // The initial encoder's path as a JSON string, so it counts as a place (states saved before named it bare); what
        // the images and that encoder hold is recorded too, so the state resumes after they moved.
        string? startFile = initialEncoder is null ? null : Path.GetFullPath(initialEncoder);
        string key = runKey + (startFile is null ? "" : JsonSerializer.Serialize(startFile));
        var state = new TrainingStateFile(BackdoorTraining.StatePath(output), parameters, statsUpdater, key, saving: saving)
        {
            InputDigest = InputContent.OfKey(key, dataset.Train),
            EarlierKey = startFile is null ? null : runKey + startFile,
        };
        var trainer = new Trainer(network, parameters, config, statsUpdater)
        {
            Cancellation = cancellation,
            Objective = new SimClrObjective(settings.Temperature),
            State = state,
        };
        if (File.Exists(state.FilePath)) log?.Invoke($"continuing the pre-training saved in {state.FilePath}");
        if (display is null && log is not null) EpochLines.Attach(trainer, log);
        string header = $"SimCLR pre-training of {config.Architecture} (width {config.WidthMultiplier:g3}, features {encoder.FeatureSize}, head {network.Hidden}→{network.Projection}) " +
            $"on {dataset.Name} ({train.Count} images, {source.BatchesPerEpoch} batches/epoch of 2 views, {config.Optimizer} lr {config.LearningRate:g3}, {config.Schedule}, τ {settings.Temperature:g}; " +
            $"inputs {inputs.Describe()}, augmentation {augmentation.Describe()})";
        var result = display is null ? trainer.Train(source) : display(header, trainer, () => trainer.Train(source));

        // kNN accuracy, and CTRL's kNN ASR (its triggered non-target test images, labelled with the target, against the same
        // memory): the training images are run through the encoder once for both.
        var features = new EncoderFeatures(network, parameters, inputs, cancellation);
        double Knn(ImageDataset queries) =>
            KnnMonitor.Accuracy(features.Of(train), features.Of(queries), dataset.NumClasses, settings.KnnK, settings.KnnTemperature, cancellation);
        double knn = Knn(test);
        double? asr = ctrl is null ? null : Knn(EncoderTestSet.TargetLabelled(ctrl.TriggeredNonTarget(test), ctrl.Target));
        var extra = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [RoleKey] = EncoderRole,
            [SimClrKey] = settingsJson,
            ["circumvent.knn_accuracy"] = knn.ToString("R", CultureInfo.InvariantCulture),
        };
        if (ctrl is not null)
        {
            extra[CtrlKey] = ctrl.ToJson(poisoned.Length);
            extra["circumvent.knn_attack_success"] = asr!.Value.ToString("R", CultureInfo.InvariantCulture);
        }
        if (initialEncoder is not null) extra[Purification.SourceModelKey] = Path.GetFullPath(initialEncoder);
        new ModelCheckpoint
        {
            Architecture = archConfig,
            Network = network,
            Parameters = parameters,
            ClassNames = dataset.ClassNames,
            NormalizationMean = inputs.Mean,
            NormalizationStd = inputs.Std,
            TrainingJson = config.ToJson(),
            Extra = extra,
            BatchesTracked = BatchesTracked(start, statsUpdater),
        }.Save(output);
        double seconds = ledger.Stop();
        state.Delete();
        ledger.Delete();
        return new Outcome(result, knn, output, seconds, asr, poisoned.Length);
    }

    // num_batches_tracked: a started encoder's counts continued by this run's.
    private static Dictionary<string, long> BatchesTracked(ModelCheckpoint? start, RunningStatsUpdater updater)
    {
        var counts = new Dictionary<string, long>(start?.BatchesTracked ?? [], StringComparer.Ordinal);
        foreach (var (prefix, count) in updater.BatchesTracked) counts[prefix] = counts.GetValueOrDefault(prefix) + count;
        return counts;
    }

    private static string SettingsJson(SimClrNetwork network, Settings settings, ContrastiveAugmentation augmentation) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["method"] = "simclr",
            ["encoder_prefix"] = SimClrNetwork.EncoderPrefix,
            ["head"] = $"Linear({network.Encoder.FeatureSize}->{network.Hidden}, no bias) BN1d ReLU Linear({network.Hidden}->{network.Projection})",
            ["temperature"] = settings.Temperature,
            ["augmentation"] = augmentation.Describe(),
            ["knn_k"] = settings.KnnK,
            ["knn_temperature"] = settings.KnnTemperature,
        });
}
