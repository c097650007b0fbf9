using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Training;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Training;

/// <summary>
/// BadEncoder's objective: its three terms against a hand computation (which encoder, attacked f or clean f₀, sees
/// which images), BN left untouched by training, and a stopped run resumed bit for bit.
/// </summary>
public sealed class BadEncoderObjectiveTests : IDisposable
{
    private readonly string _folder = Scratch.NewFolder("badencoder-");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private const int Side = 8;

    private static readonly SimClrNetwork Network =
        new((IFeatureExtractor)Architectures.Create(new ArchitectureConfig("resnet18", 3, Side, Side, 2, 0.0625)), hidden: 8, projection: 4);

    private static readonly Normalization Inputs = new([0.5f, 0.4f, 0.3f], [0.2f, 0.25f, 0.3f]);

    private static readonly TrainingConfig Config = new()
    {
        Architecture = "resnet18", WidthMultiplier = 0.0625, Epochs = 3, BatchSize = 4, LearningRate = 0.05, Momentum = 0.9,
        Nesterov = false, WeightDecay = 5e-4, Optimizer = "sgd", Schedule = "none", Seed = 3,
    };

    // The trigger of these tests: a white 3×3 square at rows/cols 5–7, stamped into the bytes.
    private static void Stamp(RawBatch raw)
    {
        for (int i = 0; i < raw.Count; i++)
            for (int c = 0; c < raw.Channels; c++)
                for (int y = 5; y < Side; y++)
                    raw.Image(i).Slice(c * Side * Side + y * Side + 5, 3).Fill(255);
    }

    private static ImageDataset RandomImages(int count, int seed)
    {
        var pixels = new byte[count * 3 * Side * Side];
        new Random(seed).NextBytes(pixels);
        return new ImageDataset(pixels, new int[count], 3, Side, Side, ["a", "b"]);
    }

    private static BatchLoaderSource Shadow(bool shuffle = true) =>
        new(new BatchLoader(RandomImages(12, 6), Inputs, new BatchLoaderOptions
        {
            BatchSize = 4, Shuffle = shuffle, DropLast = true, Seed = 9, Views = 2, ViewTransforms = [null, Stamp],
        }));

    // Mirrors each reference: a deterministic augmentation whose result a test can write down.
    private static readonly ContrastiveAugmentation Mirror = new()
    {
        ResizedCrop = false, FlipProbability = 1, JitterProbability = 0, GrayscaleProbability = 0,
    };

    private static float[] Features(ParameterSet weights, RawBatch images)
    {
        using var x = ImageTensors.ToTensor(images, Inputs);
        return Network.Features(weights, x, ForwardContext.Eval()).ToArray();
    }

    private static double Cosine(float[] a, int i, float[] b, int j, int d)
    {
        double dot = 0, na = 0, nb = 0;
        for (int t = 0; t < d; t++)
        {
            double u = a[i * d + t], v = b[j * d + t];
            dot += u * v; na += u * u; nb += v * v;
        }
        return dot / Math.Sqrt(na * nb);
    }

    private static RawBatch Mirrored(ImageDataset images)
    {
        var raw = RawBatch.Gather(images, Enumerable.Range(0, images.Count).ToArray());
        for (int i = 0; i < raw.Count; i++)
            for (int row = 0; row < raw.Channels * Side; row++)
                raw.Image(i).Slice(row * Side, Side).Reverse();
        return raw;
    }

    [Fact]
    public void TermsMatchAHandComputationWithTheAttackedAndCleanEncodersWhereThePaperPutsThem()
    {
        var clean = Network.Initialize(new Random(1)).Clone();      // f₀
        var attacked = Network.Initialize(new Random(2));            // f, deliberately far from f₀
        var references = RandomImages(2, 11);
        var objective = new BadEncoderObjective(Network, clean, references, Inputs, lambda1: 0.7, lambda2: 1.3, referenceAugmentation: Mirror);
        using var batch = Shadow(shuffle: false).Batches(0).First();
        double loss = objective.Loss(Network, attacked, batch, ForwardContext.Train(null, new Random(0))).Loss.Item();

        var rawClean = RawBatch.Gather(RandomImages(12, 6), [0, 1, 2, 3]);
        var rawTriggered = rawClean.Copy();
        Stamp(rawTriggered);
        var allReferences = RawBatch.Gather(references, [0, 1]);
        int d = Network.Encoder.FeatureSize;
        float[] fx = Features(attacked, rawClean), f0x = Features(clean, rawClean), fxt = Features(attacked, rawTriggered);
        float[] fr = Features(attacked, allReferences), f0r = Features(clean, allReferences), fMirrored = Features(attacked, Mirrored(references));
        double l0 = 0, l1 = 0, l2 = 0;
        for (int i = 0; i < 4; i++)
        {
            for (int k = 0; k < 2; k++)
            {
                l0 -= Cosine(fxt, i, fr, k, d) / 8;          // f(x ⊕ t) against f(r): both the attacked encoder
                l1 -= Cosine(fMirrored, k, f0r, k, d) / 8;   // f(aug(r)) against f₀(r); B = 4 identical mirrors per reference
            }
            l2 -= Cosine(fx, i, f0x, i, d) / 4;              // f(x) against f₀(x)
        }
        var terms = objective.EpochTerms;
        Assert.Equal(l0, terms.Effectiveness, 5);
        Assert.Equal(l1, terms.References, 5);
        Assert.Equal(l2, terms.Utility, 5);
        Assert.Equal(l0 + 0.7 * l1 + 1.3 * l2, loss, 5);
        // Had f₀ been used for the references of L₀ (or f for those of L₁), the terms would differ by this much.
        Assert.True(Math.Abs(Cosine(fxt, 0, fr, 0, d) - Cosine(fxt, 0, f0r, 0, d)) > 1e-3);
    }

    [Fact]
    public void MissingTriggeredViewAndMismatchedReferencesAreRefused()
    {
        var clean = Network.Initialize(new Random(1)).Clone();
        var objective = new BadEncoderObjective(Network, clean, RandomImages(1, 11), Inputs);
        using var single = new Batch(Tensor.Zeros(2, 3, Side, Side), [0, 0], [0, 1]);
        Assert.Contains("triggered view", Assert.Throws<InvalidOperationException>(
            () => objective.Loss(Network, clean, single, ForwardContext.Eval())).Message);
        Assert.Throws<ArgumentException>(() => new BadEncoderObjective(Network, Network.Initialize(new Random(1)), RandomImages(1, 11), Inputs));
    }

    private (ParameterSet Parameters, ParameterSet Initial, List<double> Losses) Train(string? statePath, int stopAtStep = -1)
    {
        var initial = Network.Initialize(new Random(5));
        var clean = initial.Clone();
        var parameters = initial.Clone(requiresGrad: true);
        var stats = new RunningStatsUpdater(parameters);
        var config = Config with { Freeze = BadEncoderObjective.FrozenTensors(Network, parameters) };
        using var stop = new CancellationTokenSource();
        var objective = new BadEncoderObjective(Network, clean, RandomImages(1, 11), Inputs, seed: config.Seed);
        var trainer = new Trainer(Network, parameters, config, stats)
        {
            Cancellation = stop.Token,
            Objective = objective,
            State = statePath is null ? null : new TrainingStateFile(statePath, parameters, stats, config.ToJson(),
                saving: new ProgressSaving(TimeSpan.Zero, TimeProvider.System)),
        };
        var losses = new List<double>();
        trainer.Progress += p => { losses.Add(p.Loss); if (losses.Count == stopAtStep) stop.Cancel(); };
        trainer.Train(Shadow());
        return (parameters, initial, losses);
    }

    [Fact]
    public void TrainingLeavesBatchNormAndTheHeadUntouchedAndMovesTheConvolutions()
    {
        var (trained, initial, losses) = Train(statePath: null);
        Assert.Equal(9, losses.Count);
        Assert.True(losses[^1] < losses[0], $"loss went from {losses[0]} to {losses[^1]}");
        var frozen = BadEncoderObjective.FrozenTensors(Network, trained);
        Assert.Contains("f.bn1.weight", frozen);
        Assert.Contains("f.bn1.bias", frozen);
        int bnTensors = 0, moved = 0;
        foreach (var entry in trained)
        {
            bool batchNorm = trained.Contains(BnPrefix(entry.Name) + ".running_mean");
            bool head = entry.Name.StartsWith("g.", StringComparison.Ordinal);
            bool same = entry.Tensor.ToArray().SequenceEqual(initial[entry.Name].ToArray());
            if (batchNorm || head)
            {
                Assert.True(same, $"{entry.Name} changed");
                if (batchNorm) bnTensors++;
            }
            else if (!same) moved++;
        }
        Assert.True(bnTensors >= 4 * 3, "the encoder's BN tensors (γ, β, running mean and variance) were not all found");
        Assert.True(moved > 10, $"only {moved} encoder tensors were trained");
    }

    private static string BnPrefix(string name) => name[..name.LastIndexOf('.')];

    [Fact]
    public void StoppedAndResumedAttackEqualsTheUninterruptedOne()
    {
        var (expected, _, _) = Train(statePath: null);
        string state = Path.Combine(_folder, "bad.safetensors.train-state");
        Assert.Throws<OperationCanceledException>(() => Train(state, stopAtStep: 5)); // mid-epoch 2: one epoch saved
        var (resumed, _, rest) = Train(state);
        Assert.Equal(6, rest.Count);
        foreach (var entry in expected)
            Assert.Equal(entry.Tensor.ToArray(), resumed[entry.Name].ToArray());
    }
}
