using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Attacks;

/// <summary>
/// How InputAware trains (Nguyen &amp; Tran 2020, the authors' release and BackdoorBench defaults):
/// first the mask network M alone for <see cref="AttackDefinition.MaskEpochs"/> epochs (25) —
/// λ_norm·mean(relu(m − density)) + λ_div·diversity, Adam lr 0.01 β = (0.5, 0.9), ×0.1 at epochs 10
/// and 20 — then M is frozen and the classifier trains with the generator G (Adam lr 0.01,
/// β = (0.5, 0.9), its rate following the classifier's schedule) through <see cref="InputAwareObjective"/>.
/// The classifier's optimiser and schedule are the training config's. Every draw (network initialisation, the partner loader's shuffle, the
/// per-batch plans) derives from the config's seed.
/// </summary>
public sealed class InputAwareTraining
{
    public const double GeneratorLearningRate = 0.01;
    public const double MaskLearningRate = 0.01;
    public const double AdamBeta1 = 0.5;
    public const double AdamBeta2 = 0.9;
    public const float DiversityWeight = 1f;
    public const float NormWeight = 100f;
    /// <summary>Mask pre-training epochs after which its learning rate drops ×0.1 (MultiStepLR [10, 20]).</summary>
    public static IReadOnlyList<int> MaskMilestoneEpochs { get; } = [10, 20];

    private readonly AttackDefinition _attack;
    private readonly TrainingConfig _config;
    private readonly BatchLoader _loader;
    private readonly BatchLoader _partners;

    /// <param name="trainOptions">The classifier's loader options (batch size, shuffle seed, augmentation).</param>
    public InputAwareTraining(AttackDefinition attack, TrainingConfig config, ImageDataset train, Normalization normalization, BatchLoaderOptions trainOptions)
    {
        if (attack.Kind != AttackDefinition.InputAwareKind)
            throw new ArgumentException($"InputAwareTraining needs an '{AttackDefinition.InputAwareKind}' definition, got '{attack.Kind}'.");
        attack.Validate();
        if (InputAwareBatchPlan.CountFor(attack.PoisonRate, trainOptions.BatchSize) < 1)
            throw new ArgumentException($"--poison-rate {attack.PoisonRate} of a batch of {trainOptions.BatchSize} rounds down to no backdoor sample; raise the rate or --batch-size.");
        _attack = attack;
        _config = config;
        _loader = new BatchLoader(train, normalization, trainOptions);
        _partners = new BatchLoader(train, normalization, trainOptions with { Seed = SeedFor(config, 1) });
        Networks = InputAwareNetworks.Create(train.Channels, train.Height, train.Width, normalization, new Random(SeedFor(config, 2)));
        MaskStats = new RunningStatsUpdater(Networks.Mask, InputAwareNetworks.BatchNormMomentum);
    }

    public InputAwareNetworks Networks { get; }
    public RunningStatsUpdater MaskStats { get; }
    public int BackdoorPerBatch => InputAwareBatchPlan.CountFor(_attack.PoisonRate, _loader.Options.BatchSize);
    public int CrossPerBatch => InputAwareBatchPlan.CountFor(_attack.CrossRate, _loader.Options.BatchSize);
    public int BatchesPerEpoch => _loader.BatchesPerEpoch;

    /// <summary>Seed of the per-batch plans.</summary>
    public int PlanSeed => SeedFor(_config, 3);

    /// <summary>Where training writes the trained networks for a model at <paramref name="modelPath"/>: "NAME.input-aware.safetensors" beside it.</summary>
    public static string GeneratorsPath(string modelPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath) + ".input-aware.safetensors");

    /// <summary>
    /// Trains M alone (diversity + mask norm), then freezes it. Returns the last epoch's mean loss (NaN when
    /// <paramref name="state"/> held all of it). With a state (made over <see cref="Networks"/>' Mask and
    /// <see cref="MaskStats"/>), progress is saved after every epoch and a rerun continues from it: the
    /// partner stream restarts at the same epoch, so the result equals an uninterrupted run.
    /// </summary>
    public double PretrainMask(IProgress<TrainingProgress>? progress, CancellationToken cancellation, ITrainingState? state = null)
    {
        var parameters = Networks.Mask.Parameters.Select(p => p.Tensor).ToList();
        foreach (var p in parameters) p.RequiresGrad = true;
        int batches = _loader.BatchesPerEpoch;
        var context = ForwardContext.Train(MaskStats, new Random(0));
        using var objective = new MaskObjective(_partners, (float)_attack.MaskDensity);
        var result = new TrainingLoop
        {
            Stage = "mask",
            Architecture = new MaskNetwork(Networks),
            Weights = new ModelWeights(Networks.Mask),
            Objective = objective,
            Optimizer = new Adam(parameters, MaskLearningRate, AdamBeta1, AdamBeta2),
            Schedule = new MultiStepSchedule(MaskLearningRate, MaskMilestoneEpochs.Select(e => e * batches), 0.1),
            Epochs = _attack.MaskEpochs,
            ContextForEpoch = _ => context,
            State = state,
            Progress = progress,
            Cancellation = cancellation,
        }.Run(new BatchLoaderSource(_loader));
        foreach (var p in parameters)
        {
            p.ZeroGrad();
            p.RequiresGrad = false;
        }
        return result.FinalLoss;
    }

    /// <summary>
    /// M's pre-training loss, λ_norm·mean(relu(m − density)) + λ_div·diversity against a partner batch from
    /// a second, differently shuffled loader. Both loaders have the same batches per epoch, so the partners
    /// of epoch e start at the partner loader's epoch e, resumed or not.
    /// </summary>
    private sealed class MaskObjective(BatchLoader partnerLoader, float density) : ITrainingObjective, IDisposable
    {
        private IEnumerator<Batch>? _partners;
        // The step's partner batch: backward still reads its images, so it is released after the step.
        private Batch? _partner;

        public void BeginEpoch(int epoch)
        {
            _partners?.Dispose();
            _partners = Endless(partnerLoader, epoch).GetEnumerator();
        }

        public BatchLoss Loss(IArchitecture maskNetwork, ParameterSet mask, Batch batch, ForwardContext context)
        {
            var partner = _partner = NextPartner(_partners!, batch.Count);
            var masks = maskNetwork.Forward(mask, batch.Images, context);
            var partnerMasks = maskNetwork.Forward(mask, partner.Images, context);
            var norm = Op.Mean(Op.Relu(Op.AddScalar(masks, -density)));
            var diversity = InputAwareTrigger.DiversityLoss(batch.Images, partner.Images, masks, partnerMasks);
            return Op.Add(Op.MulScalar(norm, NormWeight), Op.MulScalar(diversity, DiversityWeight));
        }

        public void AfterStep(double learningRate) => ReleasePartner();

        public void Dispose()
        {
            ReleasePartner();
            _partners?.Dispose();
        }

        private void ReleasePartner()
        {
            _partner?.Dispose();
            _partner = null;
        }
    }

    /// <summary>M as the network the training loop trains: its thresholded masks (N, 1, H, W) for normalised inputs.</summary>
    private sealed class MaskNetwork(InputAwareNetworks networks) : IArchitecture
    {
        public ArchitectureConfig Config { get; } = new("input-aware-mask", networks.Channels, networks.Height, networks.Width, Classes: 1);
        public IReadOnlyList<TensorSpec> Tensors => networks.MaskNet.Tensors;
        public ParameterSet Initialize(Random rng) => networks.MaskNet.Initialize(rng);
        public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context) =>
            parameters == networks.Mask ? networks.Masks(x, context) : throw new ArgumentException("The mask network trains its own parameters only.");
    }

    /// <summary>
    /// Everything the mask pre-training depends on: the images and their batches (data, subset, batch size,
    /// seed, augmentation), the mask's own settings (epochs, density) and optimiser. A mask network
    /// pre-trained under the same key is the same network whatever the classifier's recipe (epochs,
    /// learning rate, schedule) and the rest of the attack (target, poisoning and cross rates, which only
    /// the joint training uses), so such runs reuse it (the mask store of Circumvent.Method's BackdoorTraining).
    /// </summary>
    public static string MaskKeyJson(TrainingConfig config, AttackDefinition attack) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["data"] = config.Data,
        ["limit_train"] = config.LimitTrain,
        ["batch_size"] = config.BatchSize,
        ["seed"] = config.Seed,
        ["augment"] = config.Augment,
        ["attack"] = new { kind = attack.Kind, mask_epochs = attack.MaskEpochs, mask_density = attack.MaskDensity },
        ["mask"] = new { optimizer = "adam", learning_rate = MaskLearningRate, betas = new[] { AdamBeta1, AdamBeta2 }, milestones = MaskMilestoneEpochs, lambda_div = DiversityWeight, lambda_norm = NormWeight },
    });

    /// <summary>The classifier's objective (G trains with it); dispose it after training.</summary>
    public InputAwareObjective CreateObjective() =>
        new(Networks, _attack, _partners, PlanSeed, _config.LabelSmoothing, _config.LearningRate);

    /// <summary>The training settings stored beside the attack (metadata "circumvent.input_aware_training").</summary>
    public string SettingsJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["backdoor_per_batch"] = BackdoorPerBatch,
        ["cross_per_batch"] = CrossPerBatch,
        ["batches_per_epoch"] = BatchesPerEpoch,
        ["plan_seed"] = PlanSeed,
        ["generator"] = new { optimizer = "adam", learning_rate = GeneratorLearningRate, betas = new[] { AdamBeta1, AdamBeta2 }, schedule = "the classifier's, relative to its peak" },
        ["mask"] = new { optimizer = "adam", learning_rate = MaskLearningRate, betas = new[] { AdamBeta1, AdamBeta2 }, milestones = MaskMilestoneEpochs, epochs = _attack.MaskEpochs },
        ["lambda_div"] = DiversityWeight,
        ["lambda_norm"] = NormWeight,
        ["generator_steps"] = Networks.GeneratorNet.Steps,
        ["generator_channels"] = Networks.GeneratorNet.BaseChannels,
    });

    /// <summary>The loader's epochs one after another from <paramref name="firstEpoch"/>, without end.</summary>
    internal static IEnumerable<Batch> Endless(BatchLoader loader, int firstEpoch = 0)
    {
        for (int epoch = firstEpoch; ; epoch++)
            foreach (var batch in loader.Epoch(epoch)) yield return batch;
    }

    internal static Batch NextPartner(IEnumerator<Batch> partners, int count)
    {
        if (!partners.MoveNext()) throw new InvalidOperationException("input-aware: the partner loader ran dry.");
        var batch = partners.Current;
        if (batch.Count != count)
        {
            batch.Dispose();
            throw new InvalidOperationException($"input-aware: the partner batch has {batch.Count} images, the classifier's {count}.");
        }
        return batch;
    }

    /// <summary>A seed of its own per stream (1 partner shuffle, 2 network initialisation, 3 batch plans), independent of the classifier's.</summary>
    private static int SeedFor(TrainingConfig config, int stream) => unchecked(config.Seed * 1_000_003 + 7_368_787 * stream + 2_750_159);
}
