using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Permutations;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Method;

/// <summary>
/// TSC's pieces on a SimCLR encoder (issue #17 §4): the encoder's permutation spec leaves its last stream and the
/// projection head alone, so normalised features survive a permutation; the two-view curve step puts each view at
/// its own t and takes the curve L2 term at the last one; a two-view fit resumes bit for bit; encoder checkpoints and
/// curve files load back as encoders.
/// </summary>
public sealed class EncoderPurificationTests
{
    private static SimClrNetwork Encoder(string name, int size = 8, double width = 0.0625) =>
        new((IFeatureExtractor)Architectures.Create(new ArchitectureConfig(name, 3, size, size, 2, width)), hidden: 16, projection: 8);

    private static ParameterSet Weights(SimClrNetwork network, int seed)
    {
        var rng = new Random(seed);
        return TestData.WithRandomRunningStatistics(network.Initialize(rng), rng);
    }

    private static Tensor Images(int count, int size, int seed) => TestData.UniformImages(count, size, seed);

    private static float[] NormalisedFeatures(SimClrNetwork network, ParameterSet weights, Tensor x)
    {
        using var noGrad = GradMode.Disable();
        return Op.L2Normalize(network.Features(weights, x, ForwardContext.Eval()), 1).ToArray();
    }

    private static float[] Projections(SimClrNetwork network, ParameterSet weights, Tensor x)
    {
        using var noGrad = GradMode.Disable();
        return network.Forward(weights, x, ForwardContext.Eval()).ToArray();
    }

    [Theory]
    [InlineData("resnet18", 8)]
    [InlineData("preact-resnet18", 8)]
    [InlineData("cnn-small", 32)]
    public void APermutedEncoderGivesTheSameNormalisedFeaturesAndLeavesTheHeadAlone(string name, int size)
    {
        var network = Encoder(name, size, name == "cnn-small" ? 0.125 : 0.0625);
        var weights = Weights(network, 1);
        var spec = PermutationSpecs.For(network);
        Assert.NotEmpty(spec.Groups);
        Assert.All(spec.Groups.SelectMany(g => g.Axes), a => Assert.StartsWith(SimClrNetwork.EncoderPrefix, a.Tensor));
        var permuted = PermutationSpecs.ApplyRandom(network, weights, new Random(7));
        Assert.NotEqual(weights["f.conv1.weight"].ToArray(), permuted["f.conv1.weight"].ToArray()); // something moved

        var x = Images(6, size, 3);
        var expected = NormalisedFeatures(network, weights, x);
        var actual = NormalisedFeatures(network, permuted, x);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"feature {i}: {expected[i]} vs {actual[i]}");
        var projected = Projections(network, weights, x);
        var projectedAfter = Projections(network, permuted, x);
        for (int i = 0; i < projected.Length; i++) Assert.True(Math.Abs(projected[i] - projectedAfter[i]) < 1e-4, $"projection {i}");
        foreach (var (tensorName, tensor, _) in weights)
            if (tensorName.StartsWith(SimClrNetwork.HeadPrefix, StringComparison.Ordinal))
                Assert.Equal(tensor.ToArray(), permuted[tensorName].ToArray()); // the head is never permuted

        // A wiring that also permuted the last stream (the classifier's full spec, with the head g.0 reading it) keeps the
        // projections but reorders the features, which the comparison above catches.
        var head = SimClrNetwork.EncoderPrefix + network.Encoder.HeadName + ".weight";
        var full = new PermutationSpec([.. PermutationSpecs.For(network.Encoder).Prefixed(SimClrNetwork.EncoderPrefix).Groups.Select(g => g with
        {
            Consumers = [.. g.Consumers.Select(a => a.Tensor == head ? new TensorAxis("g.0.weight", 1, a.UnitLength) : a)],
        })]);
        var reordered = Permutation.Apply(weights, full, Permutation.Random(full, new Random(7)));
        var projectedReordered = Projections(network, reordered, x);
        for (int i = 0; i < projected.Length; i++) Assert.True(Math.Abs(projected[i] - projectedReordered[i]) < 1e-4, $"projection {i}");
        var moved = NormalisedFeatures(network, reordered, x);
        Assert.Contains(Enumerable.Range(0, expected.Length), i => Math.Abs(expected[i] - moved[i]) > 1e-3);
    }

    [Fact]
    public void ResNetEncoderSpecLeavesTheLayer4StreamButPermutesItsBlocksConv1()
    {
        var spec = PermutationSpecs.For(Encoder("resnet18"));
        var producers = spec.Groups.SelectMany(g => g.Producers).Select(a => a.Tensor).ToHashSet();
        Assert.DoesNotContain("f.layer4.1.conv2.weight", producers);
        Assert.DoesNotContain("f.layer4.0.shortcut.0.weight", producers);
        Assert.Contains("f.layer4.0.conv1.weight", producers);
        Assert.Contains("f.layer4.1.conv1.weight", producers);
        Assert.Contains("f.layer3.1.conv2.weight", producers);
        Assert.Equal(11, spec.Groups.Count); // 12 groups of the classifier less its last stream
    }

    [Fact]
    public void ActivationMatchingRunsOnAnEncoderThroughItsPrefixedProbes()
    {
        var network = Encoder("resnet18");
        var (a, b) = (Weights(network, 1), Weights(network, 2));
        var aligned = ActivationMatcher.PermuteLayers(network, a, b, [Images(8, 8, 4)], MatchMode.Align);
        var x = Images(5, 8, 5);
        var before = NormalisedFeatures(network, b, x);
        var after = NormalisedFeatures(network, aligned, x);
        for (int i = 0; i < before.Length; i++) Assert.True(Math.Abs(before[i] - after[i]) < 1e-5);
    }

    /// <summary>Records the weights of every forward call (the curve step's draws) and runs the network.</summary>
    private sealed class RecordingNetwork(SimClrNetwork inner) : IArchitecture
    {
        public List<float[]> Conv1 { get; } = [];
        public ArchitectureConfig Config => inner.Config;
        public IReadOnlyList<TensorSpec> Tensors => inner.Tensors;
        public ParameterSet Initialize(Random rng) => inner.Initialize(rng);

        public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
        {
            Conv1.Add(parameters["f.conv1.weight"].ToArray());
            return inner.Forward(parameters, x, context);
        }
    }

    private static ImageDataset ColourImages(int count, int seed)
    {
        var pixels = new byte[count * 3 * 8 * 8];
        new Random(seed).NextBytes(pixels);
        return new ImageDataset(pixels, [.. Enumerable.Range(0, count).Select(i => i % 2)], 3, 8, 8, ["a", "b"]);
    }

    private static CurveOptions TwoViewCurve(int epochs = 1) => new()
    {
        Epochs = epochs, BatchSize = 4, LearningRate = 1e-3, Optimizer = "adam", WeightDecay = 1e-6, L2 = 5e-5, Seed = 11,
        ViewAugmentation = ContrastiveAugmentation.SimClr,
    };

    [Fact]
    public void TheTwoViewCurveStepDrawsItsOwnTForEachViewFromTheCurveStream()
    {
        var network = Encoder("resnet18");
        var recorder = new RecordingNetwork(network);
        var (start, end) = (Weights(network, 1), Weights(network, 2));
        CurveTrainer.Fit(recorder, start, end, ColourImages(8, 3), Normalization.Identity(3), TwoViewCurve(), new SimClrObjective());
        Assert.Equal(4, recorder.Conv1.Count); // 2 steps × 2 views

        // Before the first update the middle bend is the midpoint, so w(t) = s + t·(e − s): t is read off any weight.
        var s = start["f.conv1.weight"].ToArray();
        var e = end["f.conv1.weight"].ToArray();
        int k = Enumerable.Range(0, s.Length).MaxBy(i => Math.Abs(e[i] - s[i]));
        double T(float[] w) => (w[k] - s[k]) / (double)(e[k] - s[k]);
        var stream = new Random(BatchLoader.MixSeed(11, -1, -2)); // the curve's t stream (CurveTrainer)
        double first = stream.NextDouble(), second = stream.NextDouble();
        Assert.Equal(first, T(recorder.Conv1[0]), 4);
        Assert.Equal(second, T(recorder.Conv1[1]), 4);
        Assert.NotEqual(T(recorder.Conv1[0]), T(recorder.Conv1[1]), 3);
    }

    /// <summary>Draws twice (one weight set per view) and returns a zero loss, so the result is the L2 term alone.</summary>
    private sealed class TwoDraws : ITrainingObjective
    {
        public int WeightDrawsPerStep => 2;

        public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context) => throw new NotSupportedException();

        public BatchLoss Loss(IArchitecture architecture, Func<ParameterSet> draw, Batch batch, ForwardContext context)
        {
            draw();
            draw();
            return Tensor.Scalar(0);
        }
    }

    [Fact]
    public void TheCurveL2TermIsTakenAtTheLastViewsWeights()
    {
        var first = new ParameterSet();
        first.Add("w", Tensor.FromArray([1f, 1f], 2), TensorRole.Parameter);
        var second = new ParameterSet();
        second.Add("w", Tensor.FromArray([3f, 4f], 2), TensorRole.Parameter);
        var draws = new Queue<ParameterSet>([first, second]);
        var penalised = new CurveTrainer.WithWeightPenalty(new TwoDraws(), 2.0);
        using var batch = new Batch(Tensor.Empty(1, 1, 1, 1), [0], [0]);
        var loss = penalised.Loss(Encoder("resnet18"), draws.Dequeue, batch, ForwardContext.Eval()).Loss.Item();
        Assert.Equal(0.5 * 2.0 * 25, loss, 4); // ‖(3, 4)‖² = 25, not ‖(1, 1)‖² = 2
        Assert.Equal(2, penalised.WeightDrawsPerStep);
    }

    [Fact]
    public void AStoppedTwoViewCurveFitResumesBitForBit()
    {
        var network = Encoder("resnet18");
        var (start, end) = (Weights(network, 1), Weights(network, 2));
        var data = ColourImages(12, 4); // 3 steps per epoch, 6 t draws
        BezierCurve Fit(IProgress<TrainingProgress>? progress, CancellationToken cancel, EpochCheckpoint? checkpoint) =>
            CurveTrainer.Fit(network, start, end, data, Normalization.Identity(3), TwoViewCurve(epochs: 3), new SimClrObjective(), progress, cancel, checkpoint);
        var whole = Fit(null, CancellationToken.None, null);
        var resumed = EpochCheckpointTests.StopAfterTwoEpochsThenResume(Fit);
        CurveProblems.AssertSetsBitIdentical(whole.Middle, resumed.Middle);
    }

    [Fact]
    public void EncoderCheckpointsAndCurveFilesLoadBackAsEncoders()
    {
        string folder = Scratch.NewFolder("encoder-");
        try
        {
            var network = Encoder("resnet18");
            var weights = Weights(network, 1);
            string path = Path.Combine(folder, "encoder.safetensors");
            new ModelCheckpoint { Architecture = network.Config, Parameters = weights, Network = network }.Save(path);
            var loaded = ModelCheckpoint.Load(path);
            var encoder = Assert.IsType<SimClrNetwork>(loaded.Encoder);
            Assert.Equal((16, 8), (encoder.Hidden, encoder.Projection));
            Assert.Equal(ModelCheckpoint.EncoderRole, loaded.Extra[ModelCheckpoint.RoleKey]);
            CurveProblems.AssertSetsBitIdentical(weights, loaded.Parameters);

            string curvePath = Path.Combine(folder, "c" + CurveFile.Extension);
            CurveFile.Save(curvePath, network, BezierCurve.Initialize(weights, Weights(network, 2)), 1, "stage 1");
            Assert.IsType<SimClrNetwork>(CurveFile.Load(curvePath).Network);

            // Without its role the same tensors are no classifier: the load says what it expected.
            var plain = Path.Combine(folder, "odd.safetensors");
            var content = CheckpointFiles.Read(path);
            var meta = content.Metadata.Where(kv => kv.Key != ModelCheckpoint.RoleKey).ToDictionary();
            meta[ModelCheckpoint.RoleKey] = "decoder";
            CheckpointFiles.Write(plain, content.Tensors, meta);
            Assert.Contains("the known roles are 'encoder', 'clip' and 'clip-image'", Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(plain)).Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void TheSelfSupervisedDefaultsAreThePapers()
    {
        var tsc = Assert.IsType<Tsc>(DefenseRegistry.Create("tsc", new DefenseSettings { SelfSupervised = true })).Options;
        Assert.Equal((2, 0.25), (tsc.Rounds, tsc.T));
        Assert.Equal(("adam", 5e-3, 1e-6, 5e-5), (tsc.Curve.Optimizer, tsc.Curve.LearningRate, tsc.Curve.WeightDecay, tsc.Curve.L2));
        Assert.Equal((5, 5e-5, "adam"), (tsc.FineTune.Epochs, tsc.FineTune.LearningRate, tsc.FineTune.Optimizer));
        Assert.Equal(96, tsc.Matching!.BatchSize);
        var mcr = Assert.IsType<Mcr>(DefenseRegistry.Create("mcr", new DefenseSettings { SelfSupervised = true, ["curve_epochs"] = 7 })).Options;
        Assert.Equal((0.25, 0.0, 7), (mcr.T, mcr.Curve.L2, mcr.Curve.Epochs));
        // The fine-tuned endpoint is the authors' ft_mcr: 10 epochs at Adam 1e-4, weight decay 1e-6, CosineAnnealingLR(T_max 100) per epoch.
        Assert.Equal((10, 1e-4, "adam", 1e-6, true, (int?)100),
            (mcr.FineTune.Epochs, mcr.FineTune.LearningRate, mcr.FineTune.Optimizer, mcr.FineTune.WeightDecay, mcr.FineTune.SchedulePerEpoch, mcr.FineTune.CosineHalfPeriodSteps));
        Assert.Equal(3, Assert.IsType<Tsc>(DefenseRegistry.Create("tsc", new DefenseSettings())).Options.Rounds); // supervised unchanged
        // A classifier-only defence refuses the self-supervised objective instead of running with cross-entropy defaults.
        Assert.Contains("classifiers only", Assert.Throws<ArgumentException>(() => DefenseRegistry.Create("fp", new DefenseSettings { SelfSupervised = true })).Message);
    }
}
