using System.Text.Json.Serialization;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// How a Bézier curve is trained (defaults: the TSC paper's runs). The learning rate follows a
/// cosine over the actual <see cref="Epochs"/> (the authors' code hard-coded a 100-epoch period), stepped per
/// batch unless <see cref="SchedulePerEpoch"/>.
/// </summary>
public sealed record CurveOptions
{
    public int Epochs { get; init; } = 200;
    public int BatchSize { get; init; } = 256;
    public double LearningRate { get; init; } = 0.02;
    public double Momentum { get; init; } = 0.9;
    /// <summary>SGD weight decay on the middle bend.</summary>
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>
    /// sgd (null, the supervised default), adam, adamw (the self-supervised curves) or amsgrad. Left out of the
    /// recorded settings when null, so run folders made before the option existed still match.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Optimizer { get; init; }
    /// <summary>λ of the loss term 0.5·λ·‖w(t)‖² (1e-4 for TSC; 0 for MCR).</summary>
    public double L2 { get; init; } = 1e-4;
    /// <summary>Augment D while training, as the authors train: the dataset's augmentation (<see cref="DatasetAugmentation"/>).</summary>
    public bool Augment { get; init; } = true;
    /// <summary>
    /// What augmenting means for this data (the dataset's recipe, e.g. no flips for digits); null = random crop
    /// (H/8 zero padding) + horizontal flip. Not part of the recorded settings: it follows from the data.
    /// </summary>
    [JsonIgnore]
    public Augmentation? DatasetAugmentation { get; init; }
    /// <summary>
    /// Two views per image drawn with this augmentation (a contrastive objective such as SimCLR's) instead of one
    /// crop/flip view; null: one view. Not part of the recorded settings: it follows from the objective, which the
    /// run's identity records.
    /// </summary>
    [JsonIgnore]
    public ContrastiveAugmentation? ViewAugmentation { get; init; }
    /// <summary>
    /// Step the cosine once per epoch (the rate held for the epoch's batches), as the authors' scheduler.step()
    /// does, instead of once per batch. On in the defences' defaults (TSC, MCR, FT); off (per batch) it is left
    /// out of the recorded settings, so run folders made before the option still match when run per batch.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SchedulePerEpoch { get; init; }
    /// <summary>
    /// Train the endpoints as well as the middle bend (the adaptive attack against TSC). Off for every
    /// defence, and then left out of the recorded settings so existing run folders still match.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TrainEndpoints { get; init; }
    /// <summary>
    /// Seeds shuffling, augmentation and the t draws. Not part of the recorded settings: a defence
    /// derives one per curve from the run's seed.
    /// </summary>
    [JsonIgnore]
    public int Seed { get; init; }

    /// <summary>The augmentation actually used for images of <paramref name="height"/> rows.</summary>
    public Augmentation AugmentationFor(int height) => OptionChecks.AugmentationFor(Augment, DatasetAugmentation, height);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting as its command-line option.</summary>
    public void Validate()
    {
        OptionChecks.Positive(Epochs, "--curve-epochs");
        OptionChecks.Positive(BatchSize, "--batch-size");
        OptionChecks.PositiveRate(LearningRate, "--curve-lr");
        OptionChecks.Momentum(Momentum, "curve momentum");
        OptionChecks.NonNegative(WeightDecay, "curve weight decay");
        OptionChecks.NonNegative(L2, "curve L2 coefficient");
        OptionChecks.OptimizerName(Optimizer, "curve optimizer");
    }
}

/// <summary>Short fine-tuning of a model on the clean data (TSC between rounds; FT and MCR baselines).</summary>
public sealed record FineTuneOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 256;
    public double LearningRate { get; init; } = 1e-4;
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>sgd (null, the default), adam, adamw or amsgrad; recorded only when set, as for curves.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Optimizer { get; init; }
    /// <summary>cosine, step or none (as the trainer's --schedule).</summary>
    public string Schedule { get; init; } = "cosine";
    /// <summary>Step the schedule once per epoch rather than per batch; recorded only when set, as for curves.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SchedulePerEpoch { get; init; }
    /// <summary>The cosine's fixed T_max in steps, past which it goes on as a wave (<see cref="TrainingConfig.CosineHalfPeriodSteps"/>); recorded only when set.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? CosineHalfPeriodSteps { get; init; }
    /// <summary>Augment D while training with the dataset's augmentation (as <see cref="CurveOptions.Augment"/>).</summary>
    public bool Augment { get; init; } = true;
    /// <summary>As <see cref="CurveOptions.DatasetAugmentation"/>.</summary>
    [JsonIgnore]
    public Augmentation? DatasetAugmentation { get; init; }
    /// <summary>
    /// Two views per image drawn with this augmentation (a contrastive objective such as SimCLR's) instead of one
    /// crop/flip view; null: one view. Not part of the recorded settings: it follows from the objective, which the
    /// run's identity records.
    /// </summary>
    [JsonIgnore]
    public ContrastiveAugmentation? ViewAugmentation { get; init; }
    /// <summary>Seeds shuffling and augmentation; derived per unit by a defence, so not recorded.</summary>
    [JsonIgnore]
    public int Seed { get; init; }

    public Augmentation AugmentationFor(int height) => OptionChecks.AugmentationFor(Augment, DatasetAugmentation, height);

    /// <param name="allowZeroEpochs">TSC accepts 0 (no fine-tuning between rounds); the FT and MCR baselines do not.</param>
    public void Validate(bool allowZeroEpochs = false)
    {
        if (!allowZeroEpochs || Epochs != 0) OptionChecks.Positive(Epochs, "--finetune-epochs");
        OptionChecks.Positive(BatchSize, "--batch-size");
        OptionChecks.PositiveRate(LearningRate, "--finetune-lr");
        OptionChecks.Momentum(Momentum, "fine-tune momentum");
        OptionChecks.NonNegative(WeightDecay, "fine-tune weight decay");
        OptionChecks.OptimizerName(Optimizer, "fine-tune optimizer");
    }
}

internal static class OptionChecks
{
    public static void Positive(int value, string name)
    {
        if (value < 1) throw new ArgumentException($"{name} must be at least 1, got {value}.");
    }

    public static void PositiveRate(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value)) throw new ArgumentException($"{name} must be a positive number, got {value}.");
    }

    public static void Momentum(double value, string name)
    {
        if (!(value >= 0 && value < 1)) throw new ArgumentException($"{name} must be in [0, 1), got {value}.");
    }

    public static void NonNegative(double value, string name)
    {
        if (!(value >= 0) || double.IsInfinity(value)) throw new ArgumentException($"{name} must be a finite value ≥ 0, got {value}.");
    }

    public static void OptimizerName(string? value, string name)
    {
        if (value is not null && !TrainingConfig.Optimizers.Contains(value))
            throw new ArgumentException($"{name} must be one of {string.Join(", ", TrainingConfig.Optimizers)}, got '{value}'.");
    }

    /// <summary>The optimiser an option names (null = SGD); momentum applies to SGD only, never Nesterov (as torch.optim.SGD's default).</summary>
    public static IOptimizer CreateOptimizer(string? name, IReadOnlyList<Tensor> trained, double learningRate, double momentum, double weightDecay) =>
        Factories.CreateOptimizer(name ?? "sgd", trained, learningRate, momentum, weightDecay, nesterov: false);

    /// <summary>
    /// The learning rate per step of a run with <paramref name="batchesPerEpoch"/> steps per epoch.
    /// <paramref name="over"/>(k) builds the schedule for k steps per epoch: per batch with k = batches per epoch;
    /// per epoch with k = 1, held for each epoch's batches (PyTorch's scheduler.step() once per epoch).
    /// </summary>
    public static ILearningRateSchedule Schedule(bool perEpoch, int batchesPerEpoch, Func<int, ILearningRateSchedule> over) =>
        perEpoch ? new EpochSteppedSchedule(over(1), batchesPerEpoch) : over(batchesPerEpoch);


    /// <summary>None, the dataset's augmentation, or (when the data did not say) crop with H/8 padding + flip.</summary>
    public static Augmentation AugmentationFor(bool augment, Augmentation? dataset, int height) =>
        augment ? dataset ?? Augmentation.CropAndFlip(height / 8) : Augmentation.None;

    /// <summary>
    /// The dropout stream of a curve fit's or fine-tuning's epoch: stream -3 with the epoch as batch index,
    /// one the loader never uses, so dropout is independent of crops and order.
    /// </summary>
    public static Random DropoutStream(int seed, int epoch) => new(BatchLoader.MixSeed(seed, epoch, -3));

    /// <summary>
    /// Shuffled, augmented training batches; a trailing batch of one image is dropped (training-mode BN needs two).
    /// With <paramref name="views"/> every image comes in two views drawn with it (and <paramref name="augmentation"/> is not used).
    /// </summary>
    public static BatchLoader TrainingLoader(ImageDataset data, Normalization normalization, int batchSize, int seed, Augmentation augmentation,
        ContrastiveAugmentation? views = null) =>
        new(data, normalization, new BatchLoaderOptions
        {
            BatchSize = batchSize,
            Shuffle = true,
            DropLast = data.Count % batchSize == 1,
            Seed = seed,
            Augmentation = views is null ? augmentation : Augmentation.None,
            Views = views is null ? 1 : 2,
            ViewAugmentation = views,
        });
}
