using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>Train → evaluate → save, shared by `train` and `demo`.</summary>
internal static class TrainingRun
{
    public sealed record Outcome(TrainingResult Training, double TestAccuracy, string OutputPath);

    public static Outcome Execute(TrainingConfig config, string outputPath, CliConsole console)
    {
        // Everything that can be checked cheaply is checked before the (long) training starts,
        // so a typo never costs a run and never touches --out.
        config.Validate();
        string output = CheckOutputPath(outputPath);
        var dataset = DatasetSpec.Parse(config.Data).Load();
        var train = config.LimitTrain > 0 && config.LimitTrain < dataset.Train.Count
            ? Subsets.Random(dataset.Train, config.LimitTrain, config.SeedFor(RandomStream.Shuffle))
            : dataset.Train;
        var archConfig = new ArchitectureConfig(config.Architecture, train.Channels, train.Height, train.Width, dataset.NumClasses, config.WidthMultiplier);
        var architecture = Architectures.Create(archConfig);
        var parameters = architecture.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));

        var augmentation = config.Augment ? Augmentation.CropAndFlip(Math.Max(1, train.Height / 8)) : Augmentation.None;
        var trainOptions = BatchLoaderOptions.Training(config.BatchSize, config.SeedFor(RandomStream.Shuffle), augmentation);
        // Keep the last partial batch when the set is smaller than one batch (tiny --limit-train runs).
        if (train.Count < config.BatchSize) trainOptions = trainOptions with { DropLast = false };
        var trainSource = new BatchLoaderSource(new BatchLoader(train, dataset.Normalization, trainOptions));
        var testSource = new BatchLoaderSource(new BatchLoader(dataset.Test, dataset.Normalization, BatchLoaderOptions.Evaluation(256)));

        var statsUpdater = new RunningStatsUpdater(parameters);
        var trainer = new Trainer(architecture, parameters, config, statsUpdater) { Cancellation = console.Cancellation };
        var header = $"training {config.Architecture} (width {config.WidthMultiplier:g3}) on {dataset.Name} ({train.Count} images, {trainSource.BatchesPerEpoch} batches/epoch, {config.Optimizer} lr {config.LearningRate:g3}, {config.Schedule})";
        var result = ProgressView.Run(console, header, trainer, () => trainer.Train(trainSource));
        double accuracy = Evaluator.Accuracy(architecture, parameters, testSource);

        new ModelCheckpoint
        {
            Architecture = archConfig,
            Parameters = parameters,
            ClassNames = dataset.ClassNames,
            NormalizationMean = dataset.Normalization.Mean,
            NormalizationStd = dataset.Normalization.Std,
            TrainingJson = config.ToJson(),
            Extra = { ["circumvent.test_accuracy"] = accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture) },
            BatchesTracked = new Dictionary<string, long>(statsUpdater.BatchesTracked, StringComparer.Ordinal),
        }.Save(output);
        return new Outcome(result, accuracy, output);
    }

    /// <summary>The full output path, after checking its folder exists and it is not a folder itself.</summary>
    public static string CheckOutputPath(string path)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new UsageException($"--out '{path}' is a directory; expected a file path such as model.safetensors.");
        string? folder = Path.GetDirectoryName(full);
        if (folder is not null && !Directory.Exists(folder))
            throw new UsageException($"--out '{path}': folder '{folder}' does not exist.");
        return full;
    }
}
