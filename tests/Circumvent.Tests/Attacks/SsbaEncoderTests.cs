using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Attacks;
using Circumvent.Models;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Attacks;

/// <summary>SSBA's StegaStamp encoder/decoder: layout, the composed pieces, the L2 schedule, the round trip after training, resume.</summary>
public class SsbaEncoderTests
{
    /// <summary>
    /// The small fast configuration the round trip is checked on: 8 bits, quarter width, 20 epochs of 10 batches (200 steps,
    /// ~45 s on a busy two-core machine; measured: 99.9% of the bits back on held-out images, residual PSNR 21.8 dB).
    /// </summary>
    internal static readonly SsbaEncoderSettings Small = new(Bits: 8, Width: 0.25, Epochs: 20, Images: 0, LearningRate: 2e-3, Seed: 5);

    [Fact]
    public void EncoderAndDecoderLayoutIsThePublishedOne()
    {
        var net = new StegaStamp(3, 32, 100);
        var shapes = net.Tensors.ToDictionary(t => t.Name, t => t.Shape);
        Assert.Equal([768, 100], shapes["encoder.secret_dense.weight"]);
        Assert.Equal([32, 6, 3, 3], shapes["encoder.conv1.weight"]);
        Assert.Equal([256, 128, 3, 3], shapes["encoder.conv5.weight"]);
        Assert.Equal([128, 256, 2, 2], shapes["encoder.up6.weight"]);
        Assert.Equal([128, 256, 3, 3], shapes["encoder.conv6.weight"]);
        Assert.Equal([32, 32, 2, 2], shapes["encoder.up9.weight"]);
        Assert.Equal([32, 70, 3, 3], shapes["encoder.conv9.weight"]);
        Assert.Equal([3, 32, 1, 1], shapes["encoder.residual.weight"]);
        Assert.Equal([32, 3, 3, 3], shapes["decoder.decoder.0.weight"]);
        Assert.Equal([128, 128, 3, 3], shapes["decoder.decoder.12.weight"]);
        Assert.Equal([512, 128], shapes["decoder.dense.0.weight"]);
        Assert.Equal([100], shapes["decoder.dense.2.bias"]);
        Assert.All(net.Tensors, t => Assert.Equal(TensorRole.Parameter, t.Role));

        var p = net.Initialize(new Random(1));
        var rng = new Random(2);
        var x = Tensor.FromArray([.. Enumerable.Range(0, 2 * 3 * 32 * 32).Select(_ => rng.NextSingle())], 2, 3, 32, 32);
        var secret = Tensor.FromArray([.. Enumerable.Range(0, 200).Select(i => (float)(i % 3 % 2))], 2, 100);
        var encoded = net.Encode(p, x, secret, ForwardContext.Eval());
        Assert.Equal([2, 3, 32, 32], encoded.Shape);
        Assert.All(encoded.ToArray(), v => Assert.InRange(v, 0f, 1f));
        Assert.Equal([2, 100], net.Forward(p, encoded, ForwardContext.Eval()).Shape);

        Assert.Throws<ArgumentException>(() => new StegaStamp(3, 28, 100));
        Assert.Throws<ArgumentException>(() => new StegaStamp(3, 48, 100));
        Assert.Equal([768, 8], new StegaStamp(3, 64, 8).Tensors.Single(t => t.Name == "encoder.secret_dense.weight").Shape);
        Assert.Equal([512, 4 * 128], new StegaStamp(3, 64, 8).Tensors.Single(t => t.Name == "decoder.dense.0.weight").Shape);
        Assert.Equal([8, 6, 3, 3], new StegaStamp(3, 32, 8, 0.25).Tensors.Single(t => t.Name == "encoder.conv1.weight").Shape);
    }

    [Fact]
    public void UpsamplingCopiesEachValueIntoATwoByTwoBlockAndPaddingAddsARightColumnAndABottomRowOfZeros()
    {
        var x = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 1, 1, 2, 3);
        Assert.Equal([
            1f, 1f, 2f, 2f, 3f, 3f,
            1f, 1f, 2f, 2f, 3f, 3f,
            4f, 4f, 5f, 5f, 6f, 6f,
            4f, 4f, 5f, 5f, 6f, 6f], StegaStamp.UpsampleNearest2x(x).ToArray());
        var padded = StegaStamp.PadRightBottomFor2x2(x);
        Assert.Equal([1, 1, 3, 4], padded.Shape);
        Assert.Equal([1f, 2f, 3f, 0f, 4f, 5f, 6f, 0f, 0f, 0f, 0f, 0f], padded.ToArray());
        var rng = new Random(3);
        GradCheck.Check(t => StegaStamp.UpsampleNearest2x(t[0]), [Tensor.Randn(rng, 2, 3, 2, 3)]);
        GradCheck.Check(t => StegaStamp.PadRightBottomFor2x2(t[0]), [Tensor.Randn(rng, 2, 2, 3, 2)]);
    }

    [Fact]
    public void BinaryCrossEntropyWithLogitsIsTheClosedFormWithoutOverflowAndItsGradientIsSigmoidMinusTarget()
    {
        float[] z = [-3f, -0.5f, 0f, 0.25f, 2f, 80f, -80f];
        float[] y = [0f, 1f, 1f, 0f, 1f, 1f, 1f];
        var logits = Tensor.Parameter((float[])z.Clone(), z.Length);
        var loss = StegaStampObjective.BinaryCrossEntropyWithLogits(logits, Tensor.FromArray(y, y.Length));
        double expected = 0;
        for (int i = 0; i < z.Length; i++)
        {
            // −[y log σ(z) + (1 − y) log(1 − σ(z))], with log σ(z) = −log(1 + e^−z) written stably by hand per sign.
            double logSigma = z[i] >= 0 ? -Math.Log(1 + Math.Exp(-z[i])) : z[i] - Math.Log(1 + Math.Exp(z[i]));
            double logOneMinus = logSigma - z[i];
            expected += -(y[i] * logSigma + (1 - y[i]) * logOneMinus);
        }
        Assert.Equal(expected / z.Length, loss.Item(), 5);
        loss.Backward();
        var grad = logits.Grad!.ToArray();
        for (int i = 0; i < z.Length; i++)
            Assert.Equal((1 / (1 + Math.Exp(-z[i])) - y[i]) / z.Length, grad[i], 5);
        var rng = new Random(4);
        var targets = Tensor.FromArray([.. Enumerable.Range(0, 12).Select(i => (float)(i % 2))], 3, 4);
        GradCheck.Check(t => StegaStampObjective.BinaryCrossEntropyWithLogits(t[0], targets), [Tensor.Randn(rng, 3, 4)], h: 1e-3);
    }

    [Fact]
    public void L2WeightWaitsForNinetyPercentOfTheBitsThenForTheAwaitStepsThenRampsToTen()
    {
        var objective = new StegaStampObjective(bits: 4, seed: 1, batchesPerEpoch: 10, awaitSteps: 3, rampSteps: 4, l2Weight: 10f);
        Assert.Equal(-1, objective.L2StartedAt);
        Assert.Equal(0f, objective.L2WeightAt(1000));
        // Mark the start at step 5 the way a batch above 90% does (the schedule's state part).
        objective.StatePart!.Tensors["l2_started_at"].Data[0] = 5;
        Assert.Equal([0f, 0f, 0f, 0f, 2.5f, 5f, 7.5f, 10f, 10f], [.. Enumerable.Range(5, 9).Select(objective.L2WeightAt)]);
        var noRamp = new StegaStampObjective(4, 1, 10, awaitSteps: 0, rampSteps: 0, l2Weight: 10f);
        noRamp.StatePart!.Tensors["l2_started_at"].Data[0] = 0;
        Assert.Equal(10f, noRamp.L2WeightAt(0));
    }

    [Fact]
    public void ScaledRunsScaleTheAuthorsAwaitAndRampStepsByTheirShareOfTheAuthorsRun()
    {
        var images = SyntheticImages(640, seed: 1);
        var training = new SsbaEncoderTraining(images, Small with { Epochs = 17 }); // 10 batches per epoch → 170 steps
        Assert.Equal(10, training.BatchesPerEpoch);
        Assert.Equal((int)Math.Round(1000 * 170 / 15640.0), training.AwaitSteps);
        Assert.Equal((int)Math.Round(3000 * 170 / 15640.0), training.RampSteps);
    }

    [Fact]
    public void TrainedEncoderRecoversItsBitsOnHeldOutImagesAndItsResidualsStayInvisible()
    {
        var train = SyntheticImages(640, seed: 1);
        var heldOut = SyntheticImages(200, seed: 2);
        var training = new SsbaEncoderTraining(train, Small);
        var encoder = training.Run(null, CancellationToken.None);
        Assert.True(training.Objective.L2StartedAt >= 0, "the bit accuracy never passed 90%, so the L2 loss never started");

        var secret = encoder.Secret(seed: 3);
        var fixedSecret = StegaStampQuality.Measure(encoder, heldOut, _ => secret);
        var randomBits = StegaStampQuality.Measure(encoder, heldOut, StegaStampQuality.RandomSecrets(encoder.Bits, heldOut.Count, seed: 9));
        Assert.True(fixedSecret.BitAccuracy >= 0.95, fixedSecret.ToString());
        Assert.True(randomBits.BitAccuracy >= 0.95, randomBits.ToString());
        // Small: PSNR above 18 dB on the rounded bytes after 200 steps (the L2 term keeps shrinking it in longer runs), and yet
        // not the identity (a residual exists).
        Assert.True(fixedSecret.Psnr > 18, fixedSecret.ToString());
        Assert.True(fixedSecret.MeanAbsResidual > 0.5, fixedSecret.ToString());

        // Sample-specific: the same secret leaves different residuals on different images.
        var copy = heldOut.Subset([0, 1]);
        encoder.EncodeInPlace(copy, [0, 1], _ => secret);
        var r0 = Enumerable.Range(0, copy.ImageSize).Select(k => copy.Image(0)[k] - heldOut.Image(0)[k]).ToArray();
        var r1 = Enumerable.Range(0, copy.ImageSize).Select(k => copy.Image(1)[k] - heldOut.Image(1)[k]).ToArray();
        Assert.NotEqual(r0, r1);

        // An untrained pair decodes at chance: the check above can fail.
        var untrained = new SsbaEncoder(training.Network, training.Network.Initialize(new Random(1)));
        Assert.InRange(StegaStampQuality.Measure(untrained, heldOut, _ => secret).BitAccuracy, 0, 0.8);
    }

    [Fact]
    public void ResidualStatisticsArePsnrLargestAndMeanAbsoluteDifferenceOnTheByteScale()
    {
        byte[] before = [10, 20, 30, 40], after = [13, 20, 26, 40];
        var (psnr, max, mean) = StegaStampQuality.Residuals(before, after);
        // Squared residuals 9, 0, 16, 0: MSE 6.25; |residuals| 3, 0, 4, 0.
        Assert.Equal(10 * Math.Log10(255.0 * 255.0 / 6.25), psnr, 10);
        Assert.Equal(4, max);
        Assert.Equal(7 / 4.0, mean, 10);
        Assert.Equal(double.PositiveInfinity, StegaStampQuality.Residuals(before, before).Psnr);
        Assert.Throws<ArgumentException>(() => StegaStampQuality.Residuals(before, after.AsSpan(1)));
    }

    [Fact]
    public void AResumedEncoderTrainingEqualsTheUninterruptedOne()
    {
        // 4 epochs of 10 batches, stopped after the third: the L2 term starts at step 26 (this seed), so the resumed run
        // must also restore when it started.
        var images = SyntheticImages(640, seed: 1);
        var settings = Small with { Epochs = 4 };
        string dir = Scratch.NewFolder("ssba-");
        var whole = new SsbaEncoderTraining(images, settings);
        whole.Run(null, CancellationToken.None);

        string statePath = Path.Combine(dir, "encoder.state");
        var first = new SsbaEncoderTraining(images, settings);
        using (var stop = new CancellationTokenSource())
        {
            int steps = 0;
            var progress = new Progress(p => { if (++steps == 3 * first.BatchesPerEpoch) stop.Cancel(); });
            Assert.Throws<OperationCanceledException>(() => first.Run(progress, stop.Token, first.CreateState(statePath, "key", SavingNow)));
        }
        var resumed = new SsbaEncoderTraining(images, settings);
        resumed.Run(null, CancellationToken.None, resumed.CreateState(statePath, "key", SavingNow));
        Assert.InRange(whole.Objective.L2StartedAt, 0, 29);
        Assert.Equal(whole.Objective.L2StartedAt, resumed.Objective.L2StartedAt);
        foreach (var entry in whole.Parameters)
            Assert.Equal(entry.Tensor.ToArray(), resumed.Parameters[entry.Name].ToArray());
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void TheAttackPoisonsWithTheEncodersOutputForItsSecretAndItsDefinitionRoundTripsWithTheEncoderFile()
    {
        var network = new StegaStamp(3, 32, 8, 0.25);
        var encoder = new SsbaEncoder(network, network.Initialize(new Random(2)));
        string dir = Scratch.NewFolder("ssba-");
        string file = Path.Combine(dir, "m.ssba-encoder.safetensors");
        encoder.Save(file, "{\"note\": \"test\"}");
        Assert.Equal(file, SsbaEncoder.PathBeside(Path.Combine(dir, "m.safetensors")));
        var definition = new AttackDefinition { Kind = "ssba", Target = 1, SecretSeed = 7, Encoder = file, EncoderSha256 = Circumvent.Data.Sha256Hex.OfFile(file) };
        var json = definition.ToJson();
        Assert.Contains("\"encoder_sha256\"", json);
        Assert.DoesNotContain("encoder", new AttackDefinition { Kind = "badnet" }.ToJson());
        var attack = Assert.IsType<SsbaAttack>(AttackFactory.FromJson(json));
        Assert.Equal(definition, attack.Definition);
        Assert.Equal(encoder.Secret(7), attack.Secret);
        Assert.NotEqual(encoder.Secret(7), encoder.Secret(8));

        var images = SyntheticImages(5, seed: 3);
        var poisoned = images.Subset([0, 1, 2, 3, 4]);
        attack.PoisonTrainingImages(poisoned, [1, 3]);
        var expected = images.Subset([0, 1, 2, 3, 4]);
        encoder.EncodeInPlace(expected, [1, 3], _ => encoder.Secret(7));
        Assert.Equal(expected.Pixels, poisoned.Pixels);
        Assert.Equal(images.Image(0).ToArray(), poisoned.Image(0).ToArray());
        Assert.NotEqual(images.Image(1).ToArray(), poisoned.Image(1).ToArray());
        var single = images.Image(3).ToArray();
        attack.ApplyTrigger(single, 3, 32, 32);
        Assert.Equal(poisoned.Image(3).ToArray(), single);

        // Another file under the recorded hash is refused; no file at all leaves an attack that cannot trigger.
        encoder.Save(file, "{\"note\": \"changed\"}");
        Assert.Throws<Circumvent.Models.Checkpoints.CheckpointException>(() => AttackFactory.FromJson(json));
        var bare = Assert.IsType<SsbaAttack>(AttackFactory.Create(definition with { Encoder = null, EncoderSha256 = null }));
        Assert.Contains("--encoder FILE", Assert.Throws<ArgumentException>(() => bare.ApplyTriggerToAll(images)).Message);
        Assert.Throws<ArgumentException>(() => encoder.EncodeInPlace(new ImageDataset(new byte[3 * 16 * 16], [0], 3, 16, 16, ["a"]), [0], _ => encoder.Secret(7)));
        Directory.Delete(dir, recursive: true);
    }

    private static readonly ProgressSaving SavingNow = new(TimeSpan.Zero, TimeProvider.System);

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    /// <summary>
    /// Image-like 3×32×32 pictures without any data files: a smooth colour gradient, two coloured rectangles and
    /// mild pixel noise per image, all drawn from <paramref name="seed"/>.
    /// </summary>
    internal static ImageDataset SyntheticImages(int count, int seed, int classes = 2)
    {
        const int c = 3, s = 32;
        var rng = new Random(seed);
        var pixels = new byte[count * c * s * s];
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            labels[n] = n % classes;
            var basis = new double[c, 3];
            for (int ch = 0; ch < c; ch++) { basis[ch, 0] = rng.Next(40, 200); basis[ch, 1] = rng.Next(-60, 60); basis[ch, 2] = rng.Next(-60, 60); }
            var boxes = Enumerable.Range(0, 2).Select(_ => (Y: rng.Next(s - 8), X: rng.Next(s - 8), H: rng.Next(4, 12), W: rng.Next(4, 12), Colour: new[] { rng.Next(256), rng.Next(256), rng.Next(256) })).ToArray();
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < s; y++)
                    for (int x = 0; x < s; x++)
                    {
                        double v = basis[ch, 0] + basis[ch, 1] * (y / (double)s - 0.5) + basis[ch, 2] * (x / (double)s - 0.5) + rng.Next(-6, 7);
                        foreach (var b in boxes)
                            if (y >= b.Y && y < b.Y + b.H && x >= b.X && x < b.X + b.W) v = b.Colour[ch] + rng.Next(-6, 7);
                        pixels[((n * c + ch) * s + y) * s + x] = (byte)Math.Clamp(v, 0, 255);
                    }
        }
        return new ImageDataset(pixels, labels, c, s, s, [.. Enumerable.Range(0, classes).Select(i => $"class{i}")]);
    }
}
