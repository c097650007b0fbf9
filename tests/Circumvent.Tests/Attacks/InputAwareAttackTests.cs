using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Attacks;

/// <summary>InputAware: the trigger arithmetic, the networks' layout and file, the per-batch plan and the joint step.</summary>
public class InputAwareAttackTests
{
    private static readonly Normalization Grey = new([0.25f], [0.5f]);

    [Fact]
    public void BlendKeepsTheInputUnderMaskZeroGivesThePatternUnderMaskOneAndMixesInBetween()
    {
        // x (1, 2, 1, 3), pattern the same shape, mask (1, 1, 1, 3) broadcast over both channels.
        var x = Tensor.FromArray([1f, -2f, 3f, 0.5f, 0f, -1f], 1, 2, 1, 3);
        var pattern = Tensor.FromArray([5f, 5f, 5f, -4f, -4f, -4f], 1, 2, 1, 3);
        var mask = Tensor.FromArray([0f, 1f, 0.25f], 1, 1, 1, 3);
        var y = InputAwareTrigger.Blend(x, pattern, mask).ToArray();
        Assert.Equal([1f, 5f, 3f + 0.25f * (5f - 3f), 0.5f, -4f, -1f + 0.25f * (-4f + 1f)], y);
    }

    [Fact]
    public void SquashStaysInsideTheUnitIntervalAndThresholdSharpensAroundAHalf()
    {
        var squashed = InputAwareTrigger.Squash(Tensor.FromArray([-1e4f, 0f, 1e4f], 3)).ToArray();
        Assert.All(squashed, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(0.5f, squashed[1]);
        Assert.True(squashed[0] < 1e-6f && squashed[2] > 1 - 1e-6f);
        var sharpened = InputAwareTrigger.Threshold(Tensor.FromArray([0f, 0.4f, 0.5f, 0.6f, 1f], 5)).ToArray();
        Assert.True(sharpened[0] < 1e-6f && sharpened[4] > 1 - 1e-6f);
        Assert.Equal(0.5f, sharpened[2], 6);
        Assert.True(sharpened[1] < 0.02f && sharpened[3] > 0.98f, string.Join(", ", sharpened));
    }

    [Fact]
    public void DiversityLossIsTheRatioOfRmsDistancesAndHasFiniteGradients()
    {
        var x1 = Tensor.FromArray([0f, 0f, 0f, 0f], 1, 1, 2, 2);
        var x2 = Tensor.FromArray([2f, 2f, 2f, 2f], 1, 1, 2, 2);
        var g1 = Tensor.FromArray([0f, 0f, 0f, 0f], 1, 1, 2, 2);
        var g2 = Tensor.FromArray([0f, 1f, 0f, 1f], 1, 1, 2, 2);
        // RMS(x1 − x2) = 2, RMS(g1 − g2) = √0.5.
        Assert.Equal(2 / Math.Sqrt(0.5), InputAwareTrigger.DiversityLoss(x1, x2, g1, g2).Item(), 4);
        // Identical patterns: huge but finite, and so is the gradient.
        var same = Tensor.Parameter([0.3f, 0.3f, 0.3f, 0.3f], 1, 1, 2, 2);
        var loss = InputAwareTrigger.DiversityLoss(x1, x2, same, Tensor.FromArray([0.3f, 0.3f, 0.3f, 0.3f], 1, 1, 2, 2));
        loss.Backward();
        Assert.True(float.IsFinite(loss.Item()) && same.Grad!.ToArray().All(float.IsFinite));
        var rng = new Random(3);
        GradCheck.Check(t => InputAwareTrigger.DiversityLoss(t[0], t[1], t[2], t[3]),
            [Tensor.Randn(rng, 2, 1, 2, 2), Tensor.Randn(rng, 2, 1, 2, 2), Tensor.Randn(rng, 2, 1, 2, 2), Tensor.Randn(rng, 2, 1, 2, 2)], h: 1e-3);
    }

    [Fact]
    public void GeneratorLayoutIsThePublishedOne()
    {
        var cifar = TriggerGenerator.ForImages(3, 32, 32, 3);
        var shapes = cifar.Tensors.ToDictionary(t => t.Name, t => t.Shape);
        Assert.Equal([32, 3, 3, 3], shapes["convblock_down_0.conv2d.weight"]);
        Assert.Equal([128, 128, 3, 3], shapes["convblock_middle.conv2d.weight"]);
        Assert.Equal([64, 128, 3, 3], shapes["convblock_up_1.conv2d.weight"]);
        Assert.Equal([3, 32, 3, 3], shapes["convblock_up_5.conv2d.weight"]);
        Assert.Equal([3], shapes["convblock_up_5.batch_norm.running_var"]);
        Assert.Equal(13 * 6, cifar.Tensors.Count); // 6 down, middle, 6 up blocks: conv weight, bias, BN weight, bias, mean, var
        var mnistMask = TriggerGenerator.ForImages(1, 28, 28, 1);
        Assert.Equal((2, 16), (mnistMask.Steps, mnistMask.BaseChannels));
        Assert.Equal([1, 16, 3, 3], mnistMask.Tensors.Single(t => t.Name == "convblock_up_3.conv2d.weight").Shape);
        Assert.DoesNotContain(mnistMask.Tensors, t => t.Name.StartsWith("convblock_up_4", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => TriggerGenerator.ForImages(1, 30, 30, 1));

        var parameters = cifar.Initialize(new Random(1));
        var y = cifar.Forward(parameters, Tensor.Randn(new Random(2), 2, 3, 32, 32), ForwardContext.Eval());
        Assert.Equal([2, 3, 32, 32], y.Shape);
    }

    /// <summary>Networks whose last BN (γ = 0) outputs constants: the pattern <paramref name="patternUnit"/> and the raw mask <paramref name="maskRaw"/>.</summary>
    private static InputAwareNetworks Constant(float patternUnit, float maskRaw, int size = 8)
    {
        var networks = InputAwareNetworks.Create(1, size, size, Grey, new Random(4));
        void SetLast(ParameterSet p, TriggerGenerator net, float beta)
        {
            string last = $"convblock_up_{2 * net.Steps - 1}.batch_norm";
            p[last + ".weight"].Span.Fill(0f);
            p[last + ".bias"].Span.Fill(beta);
        }
        // Squash(β) = v  ⇔  β = atanh((v − ½)(2 + ε)).
        SetLast(networks.Generator, networks.GeneratorNet, (float)Math.Atanh((patternUnit - 0.5) * (2 + InputAwareTrigger.Epsilon)));
        SetLast(networks.Mask, networks.MaskNet, maskRaw);
        return networks;
    }

    private static AttackDefinition Definition => new() { Kind = AttackDefinition.InputAwareKind, Target = 0, PoisonRate = 0.1 };

    [Theory]
    [InlineData(-100f, 0.0)]  // mask ≈ 0: the image is unchanged
    [InlineData(100f, 1.0)]   // mask ≈ 1: the image becomes the pattern
    [InlineData(0f, 0.5)]     // Threshold(Squash(0)) = ½: halfway
    public void TriggerOnBytesBlendsTheImageWithThePatternByTheMask(float maskRaw, double weight)
    {
        const float pattern = 0.8f;
        var attack = new InputAwareAttack(Definition, Constant(pattern, maskRaw));
        var image = AttackTestImages.Random(64, seed: 9);
        var triggered = image.ToArray();
        attack.ApplyTrigger(triggered, 1, 8, 8);
        for (int i = 0; i < image.Length; i++)
        {
            double expected = image[i] + weight * (pattern * 255 - image[i]);
            Assert.True(Math.Abs(triggered[i] - expected) <= 1, $"pixel {i}: {image[i]} → {triggered[i]}, expected ≈ {expected:F1}");
        }
        if (weight == 0) Assert.Equal(image, triggered);
    }

    [Fact]
    public void TriggeredBytesStayInRangeAndBatchedEqualsOneByOne()
    {
        // Full mask on a pattern of 1.0: every pixel goes to (rounded, clipped) 255; on 0.0 to 0.
        foreach (var (unit, value) in new[] { (0.999999f, (byte)255), (0.000001f, (byte)0) })
        {
            var image = AttackTestImages.Random(64, seed: 2);
            new InputAwareAttack(Definition, Constant(unit, 100f)).ApplyTrigger(image, 1, 8, 8);
            Assert.All(image, p => Assert.Equal(value, p));
        }
        var networks = InputAwareNetworks.Create(1, 8, 8, Grey, new Random(12)); // untrained: an image-dependent trigger
        var attack = new InputAwareAttack(Definition, networks);
        var set = AttackTestImages.Dataset(count: 5, channels: 1, height: 8, width: 8);
        var single = set.Subset([.. Enumerable.Range(0, 5)]);
        attack.ApplyTriggerToAll(set);
        for (int i = 0; i < 5; i++)
        {
            var one = single.Image(i).ToArray();
            attack.ApplyTrigger(one, 1, 8, 8);
            Assert.Equal(one, set.Image(i).ToArray());
        }
        Assert.Throws<ArgumentException>(() => attack.ApplyTrigger(new byte[3 * 64], 3, 8, 8));
    }

    [Fact]
    public void NetworksRoundTripThroughTheirFileAndABadFileIsACheckpointError()
    {
        var networks = InputAwareNetworks.Create(3, 16, 16, Normalization.Cifar10, new Random(5));
        var path = AttackTestImages.TempFile("g.safetensors");
        networks.Save(path);
        var loaded = InputAwareNetworks.Load(path);
        Assert.Equal(networks.Normalization.Mean, loaded.Normalization.Mean);
        Assert.Equal((3, 16, 16, 3, 32), (loaded.Channels, loaded.Height, loaded.Width, loaded.GeneratorNet.Steps, loaded.GeneratorNet.BaseChannels));
        foreach (var (a, b) in new[] { (networks.Generator, loaded.Generator), (networks.Mask, loaded.Mask) })
        {
            Assert.Equal(a.Names, b.Names);
            foreach (var name in a.Names) Assert.Equal(a[name].ToArray(), b[name].ToArray());
        }
        var x = Tensor.Randn(new Random(6), 2, 3, 16, 16);
        Assert.Equal(networks.Triggered(x).ToArray(), loaded.Triggered(x).ToArray());

        var notOurs = AttackTestImages.TempFile("other.safetensors");
        SafeTensorsWriter.Write(notOurs, [SafeTensor.FromFloats("w", [1], [1f])]);
        Assert.Contains("not an input-aware generator file", Assert.Throws<CheckpointException>(() => InputAwareNetworks.Load(notOurs)).Message);
        Assert.Contains("file not found", Assert.Throws<CheckpointException>(() => InputAwareNetworks.Load(notOurs + ".missing")).Message);
        var definition = Definition with { Generators = notOurs + ".missing" };
        Assert.Throws<CheckpointException>(() => AttackFactory.Create(definition));
    }

    [Fact]
    public void BatchPlanTakesFloorOfEachRateAndFollowsTheSeed()
    {
        var plan = InputAwareBatchPlan.Draw(128, 0.1, 0.1, new Random(1));
        Assert.Equal((12, 12, 104), (plan.Backdoor.Length, plan.Cross.Length, plan.Clean.Length));
        Assert.Equal(Enumerable.Range(0, 128), plan.Backdoor.Concat(plan.Cross).Concat(plan.Clean).Order());
        Assert.All(new[] { plan.Backdoor, plan.Cross, plan.Clean }, part => Assert.Equal(part.Order(), part));
        var again = InputAwareBatchPlan.Draw(128, 0.1, 0.1, new Random(1));
        Assert.Equal(plan.Backdoor, again.Backdoor);
        Assert.Equal(plan.Cross, again.Cross);
        var other = InputAwareBatchPlan.Draw(128, 0.1, 0.1, new Random(2));
        Assert.NotEqual(plan.Backdoor, other.Backdoor);
        Assert.Equal(29, InputAwareBatchPlan.Draw(100, 0.29, 0, new Random(1)).Backdoor.Length); // 0.29·100 is 28.999… in binary, yet means 29
        Assert.Empty(InputAwareBatchPlan.Draw(9, 0.1, 0.1, new Random(1)).Backdoor);
    }

    [Fact]
    public void JointStepGivesBackdoorSamplesTheTargetAndCrossSamplesTheirOwnLabels()
    {
        var data = AttackTestImages.Dataset(count: 40, channels: 1, height: 8, width: 8);
        var options = BatchLoaderOptions.Training(20, seed: 3) with { Prefetch = false };
        var attack = Definition with { Target = 7, PoisonRate = 0.2, CrossRate = 0.15 };
        var config = new TrainingConfig { Seed = 4, BatchSize = 20 };
        var training = new InputAwareTraining(attack, config, data, Grey, options);
        using var objective = training.CreateObjective();
        var loader = new BatchLoader(data, Grey, options);
        using var batch = loader.Epoch(0).First();

        var classifier = new RecordingClassifier();
        var result = objective.Loss(classifier, new ParameterSet(), batch, ForwardContext.Train(null, new Random(0)));
        var seen = classifier.Seen;
        var plan = objective.LastPlan!;
        Assert.Equal((4, 3), (plan.Backdoor.Length, plan.Cross.Length));
        int[] expected = [.. Enumerable.Repeat(7, 4), .. plan.Cross.Select(i => batch.Labels[i]), .. plan.Clean.Select(i => batch.Labels[i])];
        Assert.Equal(expected, result.Labels);
        Assert.Equal([20, 1, 8, 8], seen!.Shape);
        // Rows 0..6 carry a trigger; the clean rows are the batch's own images, untouched.
        var input = seen.ToArray();
        var original = batch.Images.ToArray();
        for (int k = 0; k < plan.Clean.Length; k++)
            Assert.Equal(original.AsSpan(plan.Clean[k] * 64, 64).ToArray(), input.AsSpan((7 + k) * 64, 64).ToArray());
        Assert.NotEqual(original.AsSpan(plan.Backdoor[0] * 64, 64).ToArray(), input.AsSpan(0, 64).ToArray());
        // The loss reaches the generator (through the triggers and the diversity term), not the frozen-to-be mask.
        result.Loss.Backward();
        Assert.Contains(training.Networks.Generator.Parameters, p => p.Tensor.Grad is { } g && g.ToArray().Any(v => v != 0));
    }

    [Fact]
    public void MaskPretrainingLowersItsLossThenFreezesTheMask()
    {
        var data = AttackTestImages.Dataset(count: 64, channels: 1, height: 8, width: 8);
        const int epochs = 8, batches = 4; // 64 images in batches of 16
        var attack = Definition with { MaskEpochs = epochs };
        var options = BatchLoaderOptions.Training(16, seed: 1) with { Prefetch = false };
        var training = new InputAwareTraining(attack, new TrainingConfig { Seed = 2, BatchSize = 16 }, data, Grey, options);
        var losses = new List<double>();
        training.PretrainMask(new Collect(losses), CancellationToken.None);
        // Per-batch losses of Adam at lr 0.01 on 64 images are noisy (a single step can jump), so compare
        // whole epochs: the last epoch's mean must be below the first's.
        Assert.Equal(epochs * batches, losses.Count);
        double first = losses.Take(batches).Average(), last = losses.TakeLast(batches).Average();
        Assert.True(last < first, $"mask loss by step: {string.Join(" ", losses.Select(l => l.ToString("F2")))}");
        Assert.All(training.Networks.Mask.Parameters, p => Assert.False(p.Tensor.RequiresGrad));
        // M runs twice a step (the batch and its partner), as the authors' two forward calls.
        Assert.Equal(epochs * batches * 2, training.MaskStats.BatchesTracked.Values.First());
    }

    [Fact]
    public void MaskPretrainingStoppedAndResumedEqualsAnUninterruptedOne()
    {
        var data = AttackTestImages.Dataset(count: 64, channels: 1, height: 8, width: 8);
        var attack = Definition with { MaskEpochs = 4 };
        var options = BatchLoaderOptions.Training(16, seed: 1) with { Prefetch = false };
        var config = new TrainingConfig { Seed = 2, BatchSize = 16 };
        InputAwareTraining Fresh() => new(attack, config, data, Grey, options);
        string folder = Scratch.NewFolder("mask-");
        try
        {
            var whole = Fresh();
            whole.PretrainMask(null, CancellationToken.None);

            string path = Path.Combine(folder, "m.mask-state");
            ITrainingState StateOf(InputAwareTraining t) => new TrainingStateFile(path, t.Networks.Mask, t.MaskStats, "mask");
            var stopped = Fresh();
            using (var stop = new CancellationTokenSource())
            {
                var steps = new List<double>();
                // Cancel during the third epoch (4 batches each): two epochs are saved.
                var cancelInThird = new Collect(steps, () => { if (steps.Count == 10) stop.Cancel(); });
                Assert.Throws<OperationCanceledException>(() => stopped.PretrainMask(cancelInThird, stop.Token, StateOf(stopped)));
            }
            var resumed = Fresh();
            var resumedSteps = new List<double>();
            resumed.PretrainMask(new Collect(resumedSteps), CancellationToken.None, StateOf(resumed));
            Assert.Equal(8, resumedSteps.Count); // only the last two epochs ran
            foreach (var entry in whole.Networks.Mask)
                Assert.Equal(entry.Tensor.ToArray(), resumed.Networks.Mask[entry.Name].ToArray());
            Assert.Equal(whole.MaskStats.BatchesTracked.Values.First(), resumed.MaskStats.BatchesTracked.Values.First());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void JointTrainingStoppedAndResumedEqualsAnUninterruptedOne()
    {
        var data = AttackTestImages.Dataset(count: 64, channels: 1, height: 8, width: 8);
        var attack = Definition with { PoisonRate = 0.2, CrossRate = 0.2 };
        var options = BatchLoaderOptions.Training(16, seed: 1) with { Prefetch = false };
        var config = new TrainingConfig { Architecture = "cnn-small", WidthMultiplier = 0.125, Epochs = 3, BatchSize = 16, LearningRate = 0.05, Seed = 2 };
        var classifier = Architectures.Create(new ArchitectureConfig("cnn-small", 1, 8, 8, 10, 0.125));
        string folder = Scratch.NewFolder("joint-");
        string path = Path.Combine(folder, "m.train-state");

        // One joint run: the classifier and G after it, and how many steps it took.
        (ParameterSet Classifier, ParameterSet Generator, int Steps) Run(bool withState, int stopAtStep = -1)
        {
            var training = new InputAwareTraining(attack, config, data, Grey, options);
            var parameters = classifier.Initialize(new Random(3));
            var stats = new RunningStatsUpdater(parameters);
            using var objective = training.CreateObjective();
            using var stop = new CancellationTokenSource();
            var trainer = new Trainer(classifier, parameters, config, stats)
            {
                Objective = objective,
                Cancellation = stop.Token,
                State = withState ? new TrainingStateFile(path, parameters, stats, "joint", [objective.StatePart]) : null,
            };
            int steps = 0;
            trainer.Progress += _ => { if (++steps == stopAtStep) stop.Cancel(); };
            trainer.Train(new BatchLoaderSource(new BatchLoader(data, Grey, options)));
            return (parameters, training.Networks.Generator, steps);
        }

        try
        {
            var whole = Run(withState: false);
            // 4 batches an epoch: stopped during the second epoch, one epoch saved.
            Assert.Throws<OperationCanceledException>(() => Run(withState: true, stopAtStep: 6));
            var resumed = Run(withState: true);
            Assert.Equal(8, resumed.Steps);
            foreach (var entry in whole.Classifier) Assert.Equal(entry.Tensor.ToArray(), resumed.Classifier[entry.Name].ToArray());
            foreach (var entry in whole.Generator) Assert.Equal(entry.Tensor.ToArray(), resumed.Generator[entry.Name].ToArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    /// <summary>A classifier that keeps the input it was given and answers zero logits over 10 classes.</summary>
    private sealed class RecordingClassifier : IArchitecture
    {
        public Tensor? Seen { get; private set; }
        public ArchitectureConfig Config { get; } = new("recording", 1, 8, 8, 10);
        public IReadOnlyList<TensorSpec> Tensors { get; } = [];
        public ParameterSet Initialize(Random rng) => new();

        public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
        {
            Seen = x;
            return Tensor.Zeros(x.Shape[0], 10);
        }
    }

    private sealed class Collect(List<double> losses, Action? after = null) : IProgress<Circumvent.Training.TrainingProgress>
    {
        public void Report(Circumvent.Training.TrainingProgress p)
        {
            losses.Add(p.Loss);
            after?.Invoke();
        }
    }

    [Fact]
    public void DefinitionChecksTheRatesAndWritesItsOwnFieldsOnly()
    {
        Assert.Contains("--cross-rate", Assert.Throws<ArgumentException>(() => (Definition with { CrossRate = 1 }).Validate()).Message);
        Assert.Contains("sum < 1", Assert.Throws<ArgumentException>(() => (Definition with { PoisonRate = 0.6, CrossRate = 0.4 }).Validate()).Message);
        Assert.Contains("--mask-epochs", Assert.Throws<ArgumentException>(() => (Definition with { MaskEpochs = 0 }).Validate()).Message);
        var json = (Definition with { Generators = "/g.safetensors" }).ToJson();
        Assert.Contains("\"cross_rate\":0.1", json);
        Assert.Contains("\"generators\":\"/g.safetensors\"", json);
        Assert.Equal(Definition with { Generators = "/g.safetensors" }, AttackDefinition.FromJson(json));
        Assert.DoesNotContain("cross_rate", new AttackDefinition().ToJson());
    }
}
