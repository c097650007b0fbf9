using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Attacks.Sapa;

/// <summary>
/// Sleeper Agent's retraining during crafting (`retrain_scenario` from-scratch): a fresh surrogate, initialised anew, trained
/// on the whole training set with the current poisons applied, by the recipe the surrogate checkpoint records (its training
/// config and augmentation), through the one <see cref="Trainer"/>. The crafting then continues against it.
/// </summary>
public sealed class SurrogateRetraining
{
    private readonly IArchitecture _architecture;
    private readonly TrainingConfig _recipe;
    private readonly Augmentation _augmentation;
    private readonly Normalization _normalization;

    /// <param name="recipe">The surrogate's training config; its data, size limit and seed are replaced (the set is given, each retraining has its own seed).</param>
    public SurrogateRetraining(IArchitecture architecture, TrainingConfig recipe, Augmentation augmentation, Normalization normalization)
    {
        if (recipe.WhitenInit)
            throw new ArgumentException("--sapa-retrain: the --clean-model was trained with --whiten-init, which the retraining does not repeat; use a surrogate without it.");
        recipe.Validate();
        _architecture = architecture;
        _recipe = recipe with { LimitTrain = 0 };
        _augmentation = augmentation;
        _normalization = normalization;
    }

    /// <summary>
    /// The recipe a checkpoint's training record (<c>ModelCheckpoint.TrainingJson</c>, as `train` writes it: the config plus the
    /// augmentation it used) describes. Throws naming <c>--clean-model</c> when the record is missing.
    /// </summary>
    public static (TrainingConfig Config, Augmentation Augmentation) RecipeOf(string? trainingJson, string path)
    {
        if (string.IsNullOrEmpty(trainingJson))
            throw new ArgumentException($"--sapa-retrain: --clean-model '{path}' has no training record to retrain the surrogate by; use a checkpoint written by `circumvent train`.");
        var config = TrainingConfig.FromJson(trainingJson);
        var used = JsonNode.Parse(trainingJson)?["augmentation"];
        // The record holds the dataset's augmentation as resolved; the config's overrides (translate, alternating flip) apply as in training.
        var augmentation = used is null
            ? Augmentation.None
            : Factories.CreateAugmentation(config, new Augmentation(used["crop_padding"]?.GetValue<int>() ?? 0, used["horizontal_flip"]?.GetValue<bool>() ?? false));
        return (config, augmentation);
    }

    /// <summary>The training config retraining <paramref name="round"/> (1..T) uses: the recipe with seed recipe seed + round.</summary>
    public TrainingConfig ConfigFor(int round) => _recipe with { Seed = _recipe.Seed + round };

    /// <summary>
    /// Trains a fresh surrogate on <paramref name="set"/> with x + δ at <paramref name="indices"/> (as the poisons will be written:
    /// rounded to bytes); <paramref name="set"/> itself is not changed.
    /// </summary>
    /// <param name="poisons">The clean poison images, normalised (N, C, H, W), in the order of <paramref name="indices"/>.</param>
    /// <param name="delta">δ, normalised units, the shape of <paramref name="poisons"/>.</param>
    /// <param name="log">Hears one line per epoch (a retraining is a whole training of the surrogate).</param>
    public ParameterSet Train(ImageDataset set, IReadOnlyList<int> indices, Tensor poisons, Tensor delta, int round, Action<string>? log = null)
    {
        var poisoned = set.Subset([.. Enumerable.Range(0, set.Count)]);
        WritePoisons(poisoned, indices, poisons, delta, _normalization);
        var config = ConfigFor(round);
        var parameters = _architecture.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        var stats = Factories.CreateRunningStats(config, parameters);
        var options = BatchLoaderOptions.Training(config.BatchSize, config.SeedFor(RandomStream.Shuffle), _augmentation);
        if (poisoned.Count < config.BatchSize) options = options with { DropLast = false };
        var trainer = new Trainer(_architecture, parameters, config, stats);
        if (log is not null)
            trainer.Progress += p =>
            {
                if (p.IsEpochEnd) log($"SAPA retraining {round}: epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} acc {100 * p.Accuracy:F2}% {p.ImagesPerSecond:F0} img/s");
            };
        trainer.Train(new BatchLoaderSource(new BatchLoader(poisoned, _normalization, options)));
        foreach (var p in parameters.Parameters) p.Tensor.RequiresGrad = false;
        return parameters;
    }

    /// <summary>Writes x + δ (normalised) back as bytes: pixel = round(((x + δ)·std_c + mean_c)·255), clamped to 0..255.</summary>
    public static void WritePoisons(ImageDataset set, IReadOnlyList<int> indices, Tensor poisons, Tensor delta, Normalization normalization)
    {
        int size = set.ImageSize, plane = set.Height * set.Width;
        var x = poisons.Span;
        var d = delta.Span;
        for (int n = 0; n < indices.Count; n++)
        {
            var image = set.Image(indices[n]);
            for (int p = 0; p < size; p++)
            {
                int c = p / plane;
                float pixel = ((x[n * size + p] + d[n * size + p]) * normalization.Std[c] + normalization.Mean[c]) * 255f;
                image[p] = (byte)Math.Clamp(MathF.Round(pixel, MidpointRounding.AwayFromZero), 0f, 255f);
            }
        }
    }
}
