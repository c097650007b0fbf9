using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Data.Text;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Runs;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// A small CLIP trained from a labelled image set (doc §2.4): captions made from the labels (<see cref="CaptionSet"/>),
/// the symmetric InfoNCE between the image tower (a built-in backbone without its head, then a projection) and a
/// mean-pooled text tower, a learnable logit scale; then zero-shot ACC on the test split by prompts. The pipeline behind
/// `circumvent pretrain --method clip`: the one <see cref="Trainer"/> (loop, resume, progress + ETA) runs
/// <see cref="ClipObjective.Joint"/>; the checkpoint holds both towers and the scale in one file (role "clip",
/// visual.* / text.* / logit_scale) with the captions in its metadata.
/// </summary>
public static class ClipPretraining
{
    public const string Method = "clip";
    /// <summary>Metadata key of the CLIP settings (joint size, text width, loss, caption rule).</summary>
    public const string ClipKey = "circumvent.clip";
    /// <summary>Metadata key of the captions (templates, names, prompt, vocabulary) the text tower's rows follow.</summary>
    public const string CaptionsKey = "circumvent.clip.captions";
    public const string ZeroShotAccuracyKey = "circumvent.zero_shot_accuracy";

    /// <param name="Joint">Size of the joint image–text space.</param>
    /// <param name="TextWidth">Width of the text tower's embeddings and MLP.</param>
    /// <param name="LimitTest">Zero-shot ACC on the first N test images only (0 = all).</param>
    public sealed record Settings(int Joint = ClipNetwork.DefaultJoint, int TextWidth = ClipTextTower.DefaultWidth, int LimitTest = 0)
    {
        public void Validate()
        {
            if (Joint < 1) throw new ArgumentException($"--joint must be at least 1, got {Joint}.");
            if (TextWidth < 1) throw new ArgumentException($"--text-width must be at least 1, got {TextWidth}.");
            if (LimitTest < 0) throw new ArgumentException($"--limit-test must be ≥ 0 (0 = all), got {LimitTest}.");
        }
    }

    /// <param name="ZeroShotAccuracy">Top-1 zero-shot accuracy in % on the (limited) test split.</param>
    public sealed record Outcome(TrainingResult Training, double ZeroShotAccuracy, string OutputPath, double ComputeSeconds);

    /// <summary>Doc §2.4: AdamW lr 1e-3, weight decay 0.1, batch 256, cosine, 15 epochs, crop + flip.</summary>
    public static TrainingConfig Defaults { get; } = new()
    {
        Architecture = "cnn-small", Data = "cifar10", Epochs = 15, BatchSize = 256, LearningRate = 1e-3, WeightDecay = 0.1,
        Optimizer = "adamw", Schedule = "cosine", Augment = true,
    };

    public static Outcome Run(TrainingConfig config, Settings settings, string outputPath, CancellationToken cancellation,
        BackdoorTraining.Display? display = null, Action<string>? log = null)
    {
        config.Validate();
        settings.Validate();
        string output = OutputPaths.Check("--out", outputPath, "a file path such as clip.safetensors");
        var saving = ProgressSaving.FromEnvironment();
        var dataset = DatasetSpec.Parse(config.Data).Load();
        var captions = CaptionSet.ForClasses(dataset.ClassNames);
        var train = config.LimitTrain > 0 && config.LimitTrain < dataset.Train.Count
            ? dataset.Train.Subset(Subsets.RandomIndices(dataset.Train.Count, config.LimitTrain, config.SeedFor(RandomStream.Shuffle)))
            : dataset.Train;
        var test = settings.LimitTest > 0 && settings.LimitTest < dataset.Test.Count ? dataset.Test.Subset([.. Enumerable.Range(0, settings.LimitTest)]) : dataset.Test;
        var archConfig = new ArchitectureConfig(config.Architecture, train.Channels, train.Height, train.Width, dataset.NumClasses, config.WidthMultiplier);
        if (Architectures.Create(archConfig) is not IFeatureExtractor backbone)
            throw new ArgumentException($"--arch {config.Architecture} cannot be an image tower: its logits are not one linear layer on a feature vector (use resnet18, preact-resnet18, vgg11/16/19 or cnn-small).");
        var network = new ClipNetwork(backbone, captions.Vocabulary.Count, settings.TextWidth, settings.Joint);
        var parameters = network.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        var inputs = dataset.Normalization;

        var options = BatchLoaderOptions.Training(config.BatchSize, config.SeedFor(RandomStream.Shuffle), config.Augment ? dataset.Augmentation : null);
        if (train.Count < config.BatchSize) options = options with { DropLast = false };
        var source = new BatchLoaderSource(new BatchLoader(train, inputs, options));
        var statsUpdater = new RunningStatsUpdater(parameters);
        using var ledger = new ComputeLedger(BackdoorTraining.SecondsPath(output));
        string settingsJson = SettingsJson(network, settings);
        string runKey = config.ToJson() + settingsJson + captions.ToJson();
        var state = new TrainingStateFile(BackdoorTraining.StatePath(output), parameters, statsUpdater, runKey, saving: saving)
            { InputDigest = Runs.InputContent.OfKey(runKey, dataset.Train) }; // resumes after the data moved
        var trainer = new Trainer(network, parameters, config, statsUpdater)
        {
            Cancellation = cancellation,
            Objective = ClipObjective.Joint(network, captions, parameters),
            State = state,
        };
        if (File.Exists(state.FilePath)) log?.Invoke($"continuing the pre-training saved in {state.FilePath}");
        if (display is null && log is not null) EpochLines.Attach(trainer, log);
        string header = $"CLIP pre-training: image tower {config.Architecture} (width {config.WidthMultiplier:g3}, features {backbone.FeatureSize} → joint {settings.Joint}), " +
            $"text tower over {captions.Vocabulary.Count} words (width {settings.TextWidth}) on {dataset.Name} ({train.Count} images × {captions.Templates.Count} templates, " +
            $"{source.BatchesPerEpoch} batches/epoch, {config.Optimizer} lr {config.LearningRate:g3} wd {config.WeightDecay:g3}, {config.Schedule}; inputs {inputs.Describe()})";
        var result = display is null ? trainer.Train(source) : display(header, trainer, () => trainer.Train(source));

        double accuracy = ZeroShot(network, parameters, captions, test, inputs, null, cancellation).Acc;
        new ModelCheckpoint
        {
            Architecture = archConfig,
            Network = network,
            Parameters = parameters,
            ClassNames = dataset.ClassNames,
            NormalizationMean = inputs.Mean,
            NormalizationStd = inputs.Std,
            TrainingJson = config.ToJson(),
            Extra = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [ClipKey] = settingsJson,
                [CaptionsKey] = captions.ToJson(),
                [ZeroShotAccuracyKey] = (accuracy / 100).ToString("R", CultureInfo.InvariantCulture),
            },
            BatchesTracked = new Dictionary<string, long>(statsUpdater.BatchesTracked, StringComparer.Ordinal),
        }.Save(output);
        double seconds = ledger.Stop();
        state.Delete();
        ledger.Delete();
        return new Outcome(result, accuracy, output, seconds);
    }

    /// <summary>Zero-shot ACC (and with an attack ASR/RA) of the image tower in <paramref name="parameters"/> against the prompts of its own text tower.</summary>
    public static BackdoorScores ZeroShot(ClipNetwork network, ParameterSet parameters, CaptionSet captions, ImageDataset test, Normalization inputs,
        Circumvent.Attacks.IAttack? attack, CancellationToken cancellation = default) =>
        BackdoorMetrics.Evaluate(ZeroShotClassifier.For(network, parameters, captions), ClipImageTower.View(parameters), test, inputs, attack, cancellation: cancellation);

    /// <summary>The captions a CLIP checkpoint was trained with (its metadata), named by <paramref name="path"/> when missing or invalid.</summary>
    public static CaptionSet Captions(string path, ModelCheckpoint checkpoint)
    {
        if (!checkpoint.Extra.TryGetValue(CaptionsKey, out var json))
            throw new ArgumentException($"'{path}' is a CLIP checkpoint without its captions (metadata '{CaptionsKey}'); make it with `circumvent pretrain --method clip`.");
        try
        {
            var captions = CaptionSet.FromJson(json);
            if (checkpoint.Clip is { } clip && clip.Text.Vocabulary != captions.Vocabulary.Count)
                throw new FormatException($"its text tower has {clip.Text.Vocabulary} token embeddings for {captions.Vocabulary.Count} words");
            return captions;
        }
        catch (FormatException e) { throw new ArgumentException($"'{path}': metadata '{CaptionsKey}' is invalid ({e.Message})."); }
    }

    private static string SettingsJson(ClipNetwork network, Settings settings) =>
        new JsonObject
        {
            ["method"] = Method,
            ["image_tower"] = $"{network.Config.Name} features ({network.Image.Backbone.FeatureSize}) -> visual.proj Linear(no bias) -> {settings.Joint}",
            ["text_tower"] = $"mean-pooled token embeddings ({network.Text.Vocabulary}x{settings.TextWidth}) + residual MLP (Linear ReLU Linear) -> text.proj Linear(no bias) -> {settings.Joint}",
            ["loss"] = "symmetric InfoNCE, logit_scale learnable from ln(1/0.07), clamped at ln 100",
            ["caption_rule"] = "image i of class c: templates[i mod 8] with names[c][(i / 8) mod |names[c]|]",
            ["zero_shot"] = "top-1 of 100*cos(image, prompt)",
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
