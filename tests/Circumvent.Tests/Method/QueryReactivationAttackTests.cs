using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

/// <summary>QRA's generator bound, its loss against a hand computation, its set, and the attack end to end on the planted backdoor.</summary>
public class QueryReactivationAttackTests
{
    /// <summary>
    /// A generator whose last layer is scaled up saturates tanh, so δ sits at ±ε: every pixel of x' is within ε of x on
    /// the 0–1 scale and inside [0, 1], some by exactly ε; the gradient reaches the generator.
    /// </summary>
    [Fact]
    public void ThePerturbationStaysWithinEpsilonAndTheValidPixelRange()
    {
        var rng = new Random(3);
        var pixels = new byte[6 * 3 * 4 * 4];
        rng.NextBytes(pixels);
        for (int i = 0; i < 48; i++) pixels[i] = (byte)(i % 2 == 0 ? 0 : 255); // an image at the range's ends: the clamp must bind
        var images = new ImageDataset(pixels, new int[6], 3, 4, 4, ["a"]);
        var normalization = Normalization.Cifar10;
        var generator = PerturbationGenerator.Initialize(48, 16, new Random(1)).Clone(requiresGrad: true);
        foreach (var v in new[] { generator["fc4.weight"], generator["fc4.bias"] }) { var s = v.Span; for (int i = 0; i < s.Length; i++) s[i] *= 50; }
        double epsilon = 16.0 / 255;

        using var scope = TensorScope.Open();
        var x = ImageTensors.ToTensor(images, Enumerable.Range(0, 6).ToArray(), normalization);
        var perturbed = PerturbationGenerator.Perturb(generator, x, normalization, epsilon);
        var a = x.ToArray();
        var b = perturbed.ToArray();
        double largest = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int c = i / 16 % 3;
            double before = a[i] * normalization.Std[c] + normalization.Mean[c], after = b[i] * normalization.Std[c] + normalization.Mean[c];
            Assert.InRange(after, -1e-6, 1 + 1e-6);
            Assert.True(Math.Abs(after - before) <= epsilon + 1e-6, $"pixel {i} moved by {Math.Abs(after - before)}");
            largest = Math.Max(largest, Math.Abs(after - before));
        }
        Assert.Equal(epsilon, largest, 1e-5);
        var delta = PerturbationGenerator.Delta(generator, x, epsilon).ToArray();
        Assert.All(delta, d => Assert.InRange(d, -epsilon - 1e-7, epsilon + 1e-7));

        var small = PerturbationGenerator.Initialize(48, 16, new Random(1)).Clone(requiresGrad: true);
        Op.Sum(PerturbationGenerator.Perturb(small, x, normalization, epsilon)).Backward();
        Assert.Contains(small["fc1.weight"].Grad!.ToArray(), g => g != 0);
    }

    [Fact]
    public void TheLossIsAlphaTimesTheKlToTheRetunedModelPlusTheCleanModelsCrossEntropy()
    {
        double[][] purified = [[1, 0, -1], [0.5, 0.5, 2]], retuned = [[3, 0, 0], [0, 1, 0]], clean = [[0, 2, 1], [1, 1, 1]];
        int[] labels = [1, 2];
        static double[] Softmax(double[] z) { var e = z.Select(Math.Exp).ToArray(); return e.Select(v => v / e.Sum()).ToArray(); }
        double kl = 0, ce = 0;
        for (int i = 0; i < 2; i++)
        {
            var p = Softmax(purified[i]);
            var q = Softmax(retuned[i]);
            for (int c = 0; c < 3; c++) kl += q[c] * Math.Log(q[c] / p[c]);
            ce -= Math.Log(Softmax(clean[i])[labels[i]]);
        }
        double expected = 0.2 * kl / 2 + ce / 2;
        static Tensor T(double[][] rows) => Tensor.FromArray([.. rows.SelectMany(r => r.Select(v => (float)v))], rows.Length, rows[0].Length);
        Assert.Equal(expected, QueryReactivationAttack.Loss(T(purified), T(retuned), T(clean), labels, alpha: 0.2).Item(), 1e-5);
        // The KL is zero when the purified model on x' agrees with the RA model on x.
        Assert.Equal(ce / 2, QueryReactivationAttack.Loss(T(retuned), T(retuned), T(clean), labels, alpha: 0.2).Item(), 1e-5);
    }

    [Fact]
    public void TheSetHasCleanImagesThenTriggeredNonTargetOnesWithTrueLabels()
    {
        var train = PlantedBackdoorProblem.Images(200, 5);
        var set = QueryReactivationAttack.BuildSet(train, PlantedBackdoorProblem.Attack, new QraOptions { CleanImages = 40, PoisonedImages = 30 }, seed: 1);
        Assert.Equal(70, set.Count);
        Assert.DoesNotContain(0, set.Labels[40..]);
        // The trigger: a white 2×2 patch in the top-right corner of every triggered image, and not of the clean ones.
        Assert.All(Enumerable.Range(40, 30), i => Assert.Equal(255, set.Image(i)[6]));
        Assert.Contains(Enumerable.Range(0, 40), i => set.Image(i)[6] != 255);

        // The triggered images are drawn apart from the clean ones: of 30 drawn from 200, about 6 may by chance also be
        // among the 40 clean ones (one shared order made every one of them a copy). An image is known by its untouched pixels.
        string Untriggered(int i) => Convert.ToBase64String(set.Image(i).ToArray().Select((v, k) => k == 6 || k == 7 || k == 14 || k == 15 ? (byte)0 : v).ToArray());
        var cleanOnes = Enumerable.Range(0, 40).Select(Untriggered).ToHashSet();
        int shared = Enumerable.Range(40, 30).Count(i => cleanOnes.Contains(Untriggered(i)));
        Assert.True(shared <= 15, $"{shared} of the 30 triggered images are copies of clean ones");
    }

    /// <summary>
    /// On the planted backdoor, with the backdoored model as both the "purified" and the RA model, the generator's loss falls,
    /// the triggered test images + δ still reach the target on the backdoored model, and a clean model of the same recipe
    /// does not follow them: the perturbation is not a plain adversarial one.
    /// </summary>
    [Fact]
    public void OnAPlantedBackdoorQraReactivatesTheBackdooredModelButNotACleanOne()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0);
        var clean = problem.Architecture.Initialize(new Random(5));
        var config = new TrainingConfig { Architecture = "cnn-small", Epochs = 8, BatchSize = 32, LearningRate = 0.05, Augment = false, Seed = 5 };
        var train = PlantedBackdoorProblem.Images(800, 1000);
        new Trainer(problem.Architecture, clean, config, new RunningStatsUpdater(clean))
            .Train(new BatchLoaderSource(new BatchLoader(train, problem.Normalization, BatchLoaderOptions.Training(32, 5))));
        Assert.True(problem.Evaluate(clean).Asr < 20, "the clean model learnt the trigger");

        var options = new QraOptions { CleanImages = 100, PoisonedImages = 100, Hidden = 64, Epochs = 10, BatchSize = 32, LearningRate = 0.01 };
        var losses = new List<double>();
        var set = QueryReactivationAttack.BuildSet(train, PlantedBackdoorProblem.Attack, options, seed: 2);
        var generator = QueryReactivationAttack.Train(problem.Architecture, problem.Parameters, problem.Parameters, clean, set, problem.Normalization, options, seed: 2,
            progress: new ProgressRelay(p => { if (p.Batch == p.Batches) losses.Add(p.Loss); }));
        Assert.True(losses[^1] < losses[0], $"the generator's loss went from {losses[0]:F4} to {losses[^1]:F4}");

        var onBackdoored = QueryReactivationAttack.Score(problem.Architecture, problem.Parameters, generator, problem.TestSet, options);
        var onClean = QueryReactivationAttack.Score(problem.Architecture, clean, generator, problem.TestSet, options);
        Assert.True(onBackdoored.Asr >= 90, $"QRA ASR on the backdoored model {onBackdoored.Asr:F1}%");
        Assert.True(onClean.Asr <= 20 && onClean.CleanToTarget <= 20, $"QRA on the clean model: ASR {onClean.Asr:F1}%, clean → target {onClean.CleanToTarget:F1}%");
    }
}
