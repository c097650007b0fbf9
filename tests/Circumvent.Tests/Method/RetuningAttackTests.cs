using Circumvent.Data.Loading;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;

namespace Circumvent.Tests.Method;

/// <summary>
/// The retuning attack (Min et al. 2024, §3.2 of docs/defences-and-robustness): its set has the protocol's size and exactly
/// its poisoned samples (trigger on the un-augmented image, target label), the rest augmented once; and retuning a
/// purified model with poisoned samples raises ASR where the same retuning without them does not.
/// </summary>
public class RetuningAttackTests
{
    [Fact]
    public void TheSetIsTwoPercentPerClassWithFivePoisonedAndTheRestAugmentedOnce()
    {
        // 12,500 images per class, as CIFAR-10's 5,000: 2% of each is 250, so 1,000 in all, as the protocol's 1,000 CIFAR-10 images.
        var train = PlantedBackdoorProblem.Images(4 * 12_500 / 5, seed: 3);
        var attack = PlantedBackdoorProblem.Attack;
        var augmentation = Augmentation.CropAndFlip(1);
        var set = RetuningAttack.BuildSet(train, attack, augmentation, new RetuningOptions(), seed: 4);
        Assert.Equal(4 * 50, set.Data.Count); // 2% of 2,500 per class
        Assert.Equal(5, set.PoisonedPositions.Length);
        Assert.Equal(set.Data.Count, set.Sources.Distinct().Count());

        var full = RetuningAttack.BuildSet(PlantedBackdoorProblem.Images(4 * 12_500, seed: 3), attack, augmentation, new RetuningOptions(), seed: 4);
        Assert.Equal(1000, full.Data.Count);

        int changed = 0;
        for (int i = 0; i < set.Data.Count; i++)
        {
            var source = train.Image(set.Sources[i]).ToArray();
            var image = set.Data.Image(i).ToArray();
            if (set.PoisonedPositions.Contains(i))
            {
                Assert.NotEqual(attack.TargetClass, train.Labels[set.Sources[i]]);
                Assert.Equal(attack.TargetClass, set.Data.Labels[i]);
                attack.ApplyTrigger(source, 1, PlantedBackdoorProblem.Size, PlantedBackdoorProblem.Size);
                Assert.Equal(source, image); // the trigger on the image as stored: no augmentation
            }
            else
            {
                Assert.Equal(train.Labels[set.Sources[i]], set.Data.Labels[i]);
                Assert.True(IsCropOrFlipOf(source, image, augmentation), $"image {i} is not a crop/flip of its source");
                if (!source.AsSpan().SequenceEqual(image)) changed++;
            }
        }
        Assert.True(changed > set.Data.Count / 2, $"only {changed} clean images were augmented");
        // Frozen: the same seed gives the same set.
        var again = RetuningAttack.BuildSet(train, attack, augmentation, new RetuningOptions(), seed: 4);
        Assert.Equal(set.Data.Pixels, again.Data.Pixels);
    }

    [Fact]
    public void RetuningWithPoisonedSamplesBringsAPurifiedBackdoorBackAndWithoutThemDoesNot()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25);
        var options = new TscOptions
        {
            Rounds = 2, T = 0.4,
            Curve = new CurveOptions { Epochs = 40, BatchSize = 32, LearningRate = 0.02 },
            FineTune = new FineTuneOptions { Epochs = 5, BatchSize = 32, LearningRate = 1e-3 },
            Matching = MatchingOptions.Authors with { BatchSize = 32 },
        };
        var purified = new Tsc(options).Run(problem.Input(11));
        Assert.True(purified.After!.Asr <= 15, $"TSC left ASR at {purified.After.Asr:F1}%");

        // 5% of each class of 10,000 training images: 500. With the protocol's 5 poisoned samples this small network, cleaned
        // by TSC, stays clean (P-ASR 5.3% against 0.0% without them, O-ASR 0.3%); with 50 the backdoor must come back, and only
        // through the poisoned samples (the control retunes the same way without them).
        var train = PlantedBackdoorProblem.Images(10_000, seed: 5);
        RetuningResult Retune(int poisoned) => RetuningAttack.Run(problem.Architecture, purified.Purified, train, problem.Normalization,
            PlantedBackdoorProblem.Attack, Augmentation.None, problem.Evaluate, seed: 2, new RetuningOptions { Fraction = 0.05, Poisoned = poisoned });
        var attacked = Retune(50);
        var control = Retune(0);
        Assert.Equal(500, attacked.Images);
        Assert.Equal(50, attacked.Poisoned);
        Assert.True(attacked.Scores.Asr >= control.Scores.Asr + 30,
            $"P-ASR {attacked.Scores.Asr:F1}% with 50 poisoned samples, {control.Scores.Asr:F1}% without (O-ASR {purified.After.Asr:F1}%)");
    }

    // Whether image is source shifted by some offset in [−p, p]² (zero fill) and maybe mirrored.
    private static bool IsCropOrFlipOf(byte[] source, byte[] image, Augmentation augmentation)
    {
        int size = PlantedBackdoorProblem.Size, p = augmentation.CropPadding;
        for (int oy = -p; oy <= p; oy++)
        for (int ox = -p; ox <= p; ox++)
        foreach (bool flip in new[] { false, true })
        {
            bool same = true;
            for (int y = 0; y < size && same; y++)
            for (int x = 0; x < size && same; x++)
            {
                int sy = y + oy, sx = (flip ? size - 1 - x : x) + ox;
                byte expected = sy >= 0 && sy < size && sx >= 0 && sx < size ? source[sy * size + sx] : (byte)0;
                same = image[y * size + x] == expected;
            }
            if (same) return true;
        }
        return false;
    }
}
