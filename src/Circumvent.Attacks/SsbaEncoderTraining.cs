using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Attacks;

/// <summary>How SSBA's encoder is trained (what the attack definition's ssba fields and the run's seed fix).</summary>
/// <param name="Bits">Fingerprint length L (the authors' 100).</param>
/// <param name="Width">Channel multiplier of both networks (1 = the published widths).</param>
/// <param name="Epochs">Passes over the images (the authors' 20).</param>
/// <param name="Images">Training images drawn from the attacker's training set (0 = all of it).</param>
/// <param name="LearningRate">Adam's rate (the authors' 1e-4).</param>
/// <param name="Seed">Every draw (image subset, initialisation, order, bit strings) derives from it.</param>
public sealed record SsbaEncoderSettings(int Bits, double Width, int Epochs, int Images, double LearningRate, int Seed)
{
    public static SsbaEncoderSettings From(AttackDefinition attack, int seed) =>
        new(attack.FingerprintBits, attack.EncoderWidth, attack.EncoderEpochs, attack.EncoderImages, attack.EncoderLearningRate, seed);
}

/// <summary>
/// BackdoorBench's `resource/ssba/train.py` recipe for the <see cref="StegaStamp"/> pair, on the one
/// <see cref="TrainingLoop"/>: batches of 64 images in [0, 1], no augmentation, a fresh random bit string
/// per image and step, Adam, loss BCE(bits) + w·MSE(E(x, s), x) (<see cref="StegaStampObjective"/>). The
/// L2 weight w is 0 until a batch's bit accuracy first exceeds 0.9, stays 0 for a further "await" steps
/// and then ramps linearly to 10 over "ramp" steps. The authors' await (1,000) and ramp (3,000) steps
/// belong to their 15,640-step run (20 epochs of 782 batches); a shorter run scales both by its share of it.
/// </summary>
public sealed class SsbaEncoderTraining
{
    public const int BatchSize = 64;
    public const float L2Weight = 10f;
    public const double BitAccuracyToStartL2 = 0.9;
    public const int AuthorsAwaitSteps = 1000;
    public const int AuthorsRampSteps = 3000;
    public const int AuthorsSteps = 15_640;

    private readonly SsbaEncoderSettings _settings;
    private readonly BatchLoader _loader;

    /// <param name="train">The attacker's (clean) training set; <see cref="SsbaEncoderSettings.Images"/> of it are drawn.</param>
    public SsbaEncoderTraining(ImageDataset train, SsbaEncoderSettings settings)
    {
        if (train.Height != train.Width)
            throw new ArgumentException($"ssba: the StegaStamp encoder needs square images, got {train.Height}×{train.Width}.");
        if (settings.Images < 0) throw new ArgumentException($"--encoder-images must be ≥ 0 (0 = all), got {settings.Images}.");
        _settings = settings;
        Network = new StegaStamp(train.Channels, train.Height, settings.Bits, settings.Width);
        Parameters = Network.Initialize(new Random(SeedFor(settings.Seed, 1)));
        var images = settings.Images > 0 && settings.Images < train.Count
            ? train.Subset(Subsets.RandomIndices(train.Count, settings.Images, SeedFor(settings.Seed, 4)))
            : train;
        var options = BatchLoaderOptions.Training(BatchSize, SeedFor(settings.Seed, 2));
        if (images.Count < BatchSize) options = options with { DropLast = false };
        _loader = new BatchLoader(images, Normalization.Identity(train.Channels), options);
        int totalSteps = settings.Epochs * _loader.BatchesPerEpoch;
        AwaitSteps = (int)Math.Round((double)AuthorsAwaitSteps * totalSteps / AuthorsSteps);
        RampSteps = (int)Math.Round((double)AuthorsRampSteps * totalSteps / AuthorsSteps);
        Objective = new StegaStampObjective(settings.Bits, SeedFor(settings.Seed, 3), _loader.BatchesPerEpoch, AwaitSteps, RampSteps, L2Weight);
    }

    public StegaStamp Network { get; }
    public ParameterSet Parameters { get; }
    public StegaStampObjective Objective { get; }
    public int AwaitSteps { get; }
    public int RampSteps { get; }
    public int BatchesPerEpoch => _loader.BatchesPerEpoch;

    /// <summary>
    /// The run's progress file: both networks, Adam and the L2 schedule's state (restored, or saved after every epoch);
    /// with <paramref name="inputDigest"/> it resumes after its data moved (<see cref="TrainingStateFile.InputDigest"/>).
    /// </summary>
    public TrainingStateFile CreateState(string path, string keyJson, ProgressSaving? saving = null, Func<string>? inputDigest = null) =>
        new(path, Parameters, null, keyJson, [Objective.StatePart!], saving) { InputDigest = inputDigest };

    /// <summary>Trains (or continues, or with a complete <paramref name="state"/> just restores) the pair and returns it.</summary>
    public SsbaEncoder Run(IProgress<TrainingProgress>? progress, CancellationToken cancellation, ITrainingState? state = null)
    {
        var trained = Parameters.Parameters.Select(p => p.Tensor).ToList();
        foreach (var p in trained) p.RequiresGrad = true;
        new TrainingLoop
        {
            Stage = "ssba-encoder",
            Architecture = Network,
            Weights = new ModelWeights(Parameters),
            Objective = Objective,
            Optimizer = new Adam(trained, _settings.LearningRate),
            Schedule = new ConstantSchedule(_settings.LearningRate),
            Epochs = _settings.Epochs,
            ContextForEpoch = epoch => ForwardContext.Train(null, new Random(epoch)),
            State = state,
            Progress = progress,
            Cancellation = cancellation,
            LearningRateName = "--encoder-lr",
        }.Run(new BatchLoaderSource(_loader));
        foreach (var p in trained)
        {
            p.ZeroGrad();
            p.RequiresGrad = false;
        }
        return new SsbaEncoder(Network, Parameters);
    }

    /// <summary>
    /// Everything the encoder depends on: the attacker's images (data, subset, seed), its settings and the
    /// recipe's constants. Runs under the same key train the same encoder, so the runner's store reuses it.
    /// </summary>
    public static string KeyJson(TrainingConfig config, SsbaEncoderSettings settings) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["data"] = config.Data,
        ["limit_train"] = config.LimitTrain,
        ["encoder"] = settings,
        ["recipe"] = new { batch_size = BatchSize, optimizer = "adam", l2_weight = L2Weight, start_l2_above = BitAccuracyToStartL2, await_steps = AuthorsAwaitSteps, ramp_steps = AuthorsRampSteps, of_steps = AuthorsSteps },
    });

    /// <summary>The training settings stored in the encoder file and the attacked model's metadata.</summary>
    public string SettingsJson() => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["encoder"] = _settings,
        ["batch_size"] = BatchSize,
        ["batches_per_epoch"] = BatchesPerEpoch,
        ["l2_weight"] = L2Weight,
        ["l2_await_steps"] = AwaitSteps,
        ["l2_ramp_steps"] = RampSteps,
        ["l2_started_at_step"] = Objective.L2StartedAt,
    });

    /// <summary>A seed of its own per stream (1 initialisation, 2 batch order, 3 bit strings, 4 image subset).</summary>
    private static int SeedFor(int seed, int stream) => unchecked(seed * 1_000_003 + 5_351_219 * stream + 3_021_377);
}

/// <summary>
/// The StegaStamp loss of one batch: each image x gets a random bit string s, the encoder makes E(x, s),
/// the decoder reads logits z from it; loss = BCE-with-logits(z, s) + w·MSE(E(x, s), x), w from the L2
/// schedule (<see cref="SsbaEncoderTraining"/>). The step where the bit accuracy first passed 0.9 is kept
/// in <see cref="StatePart"/> so a resumed run ramps w as the uninterrupted one; the bit strings of epoch e
/// derive from (seed, e). The loop's training accuracy is the bit accuracy (each bit a two-way "class").
/// </summary>
public sealed class StegaStampObjective : ITrainingObjective
{
    private const string StartedAtName = "l2_started_at";
    private readonly int _bits, _seed, _batchesPerEpoch, _awaitSteps, _rampSteps;
    private readonly float _l2Weight;
    // One value: the step the bit accuracy first exceeded 0.9, or −1 while it has not.
    private readonly ParameterSet _schedule = new();
    private Random _rng;
    private int _step;

    public StegaStampObjective(int bits, int seed, int batchesPerEpoch, int awaitSteps, int rampSteps, float l2Weight)
    {
        (_bits, _seed, _batchesPerEpoch, _awaitSteps, _rampSteps, _l2Weight) = (bits, seed, batchesPerEpoch, awaitSteps, rampSteps, l2Weight);
        _schedule.Add(StartedAtName, Tensor.FromArray([-1f], 1), TensorRole.Buffer);
        _rng = new Random(seed);
    }

    public TrainingStatePart? StatePart => new("l2_schedule", _schedule, null, null);

    /// <summary>The step the bit accuracy first exceeded 0.9 (−1: not yet).</summary>
    public int L2StartedAt => (int)_schedule[StartedAtName].Data[0];

    /// <summary>The L2 weight at <paramref name="step"/>: 0 until await steps after the start, then linear up to the full weight over the ramp.</summary>
    public float L2WeightAt(int step)
    {
        if (L2StartedAt < 0) return 0f;
        int since = step - L2StartedAt - _awaitSteps;
        if (since < 0) return 0f;
        return _rampSteps == 0 ? _l2Weight : Math.Min(_l2Weight, _l2Weight * since / _rampSteps);
    }

    public void BeginEpoch(int epoch)
    {
        _step = epoch * _batchesPerEpoch;
        _rng = new Random(BatchLoader.MixSeed(_seed, epoch, 0));
    }

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var network = architecture as StegaStamp ?? throw new ArgumentException("StegaStampObjective trains a StegaStamp pair.");
        int n = batch.Count;
        var bits = new float[n * _bits];
        for (int i = 0; i < bits.Length; i++) bits[i] = _rng.Next(2);
        var secret = Tensor.FromArray(bits, n, _bits);
        var encoded = network.Encode(weights, batch.Images, secret, context);
        var logits = network.Forward(weights, encoded, context);
        var pairs = AsTwoWay(logits);
        var labels = Array.ConvertAll(bits, b => b > 0.5f ? 1 : 0);
        var loss = Op.CrossEntropy(pairs, labels); // BCE with logits (BinaryCrossEntropyWithLogits)
        int right = CountRight(logits.Span, labels);
        if (L2StartedAt < 0 && right > SsbaEncoderTraining.BitAccuracyToStartL2 * bits.Length) _schedule[StartedAtName].Data[0] = _step;
        float w = L2WeightAt(_step);
        if (w > 0) loss = Op.Add(loss, Op.MulScalar(Op.Mean(Op.Square(Op.Sub(encoded, batch.Images))), w));
        return new BatchLoss(loss, pairs, labels);
    }

    public void AfterStep(double learningRate) => _step++;

    /// <summary>
    /// PyTorch's BCEWithLogitsLoss (mean over all entries) of <paramref name="logits"/> against 0/1
    /// <paramref name="targets"/> of the same shape, computed as the cross-entropy of every entry as a two-way
    /// decision with logits [0, z]: log-softmax keeps it finite for any z, and it has no kink (relu(z) + log(1 + e^−|z|)
    /// has the right value but a wrong subgradient at z = 0).
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets)
    {
        if (!logits.Shape.SequenceEqual(targets.Shape))
            throw new ArgumentException($"BCE: logits {Shape.Format(logits.Shape)} and targets {Shape.Format(targets.Shape)} differ in shape.");
        var labels = new int[targets.Length];
        var t = targets.Span;
        for (int i = 0; i < labels.Length; i++) labels[i] = t[i] > 0.5f ? 1 : 0;
        return Op.CrossEntropy(AsTwoWay(logits), labels);
    }

    /// <summary>Logits of any shape as (count, 2) rows [0, z]: softmax of a row is (1 − σ(z), σ(z)).</summary>
    public static Tensor AsTwoWay(Tensor logits)
    {
        var column = Op.Reshape(logits, logits.Length, 1);
        return Op.Concat([Tensor.Zeros(logits.Length, 1), column], 1);
    }

    private static int CountRight(ReadOnlySpan<float> logits, int[] labels)
    {
        int right = 0;
        for (int i = 0; i < labels.Length; i++) if ((logits[i] > 0) == (labels[i] == 1)) right++;
        return right;
    }
}
