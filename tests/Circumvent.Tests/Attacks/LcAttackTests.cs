using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Attacks;

public class LcAttackTests
{
    private static LcAttack Lc(string? cleanModel = null, int target = 0, double epsilon = 8, int steps = 10) =>
        (LcAttack)AttackFactory.Create(new AttackDefinition { Kind = "lc", Target = target, CleanModel = cleanModel, PgdEpsilon = epsilon, PgdSteps = steps });

    /// <summary>A randomly initialised (untrained) small network saved as a checkpoint: PGD only needs gradients.</summary>
    private static (string Path, IArchitecture Arch, ParameterSet Parameters) CleanModel(int channels = 1, int size = 8)
    {
        var config = new ArchitectureConfig("cnn-small", channels, size, size, 10, 0.25);
        var arch = Architectures.Create(config);
        var parameters = arch.Initialize(new Random(3));
        var path = AttackTestImages.TempFile("clean.safetensors");
        new ModelCheckpoint
        {
            Architecture = config,
            Parameters = parameters,
            NormalizationMean = [0.5f],
            NormalizationStd = [0.25f],
        }.Save(path);
        return (path, arch, parameters);
    }

    [Fact]
    public void TriggerIsThePublishedFourCornerMaskOnEveryChannel()
    {
        const int c = 2, h = 8, w = 9;
        var before = Enumerable.Repeat((byte)128, c * h * w).ToArray();
        var after = (byte[])before.Clone();
        Lc().ApplyTrigger(after, c, h, w);
        // (row, column) → sign as the authors list them, negative indices counted from the end.
        (int Y, int X, int Sign)[] published =
        [
            (0, 0, 1), (0, 1, -1), (0, 2, -1), (1, 0, -1), (1, 1, 1), (1, 2, -1), (2, 0, 1), (2, 1, -1), (2, 2, 1),
            (-1, 0, 1), (-1, 1, -1), (-1, 2, 1), (-2, 0, -1), (-2, 1, 1), (-2, 2, -1), (-3, 0, 1), (-3, 1, -1), (-3, 2, -1),
            (0, -1, 1), (0, -2, -1), (0, -3, -1), (1, -1, -1), (1, -2, 1), (1, -3, -1), (2, -1, 1), (2, -2, -1), (2, -3, 1),
            (-1, -1, 1), (-1, -2, -1), (-1, -3, 1), (-2, -1, -1), (-2, -2, 1), (-2, -3, -1), (-3, -1, 1), (-3, -2, -1), (-3, -3, -1),
        ];
        var expected = (byte[])before.Clone();
        foreach (var (y, x, sign) in published)
            for (int ch = 0; ch < c; ch++)
                expected[(ch * h + (y + h) % h) * w + (x + w) % w] = sign > 0 ? (byte)255 : (byte)0;
        Assert.Equal(expected, after);
        Assert.Equal(36 * c, after.Zip(before).Count(p => p.First != p.Second));
    }

    [Fact]
    public void TriggerRejectsTinyImages()
    {
        var error = Assert.Throws<ArgumentException>(() => Lc().ApplyTrigger(new byte[4], 1, 2, 2));
        Assert.Contains("2×2", error.Message);
    }

    [Fact]
    public void PoisonsOnlyTargetClassImagesWithinEpsilonAndAddsTheCorners()
    {
        var (model, _, _) = CleanModel();
        var train = AttackTestImages.Dataset(count: 200, channels: 1, height: 8, width: 8);
        var attack = Lc(model, target: 2, epsilon: 8);
        var result = Poisoning.Poison(train, attack, rate: 0.05, seed: 1);
        Assert.Equal(10, result.PoisonedIndices.Length);
        Assert.All(result.PoisonedIndices, i => Assert.Equal(2, train.Labels[i]));
        Assert.Equal(train.Labels, result.Data.Labels);

        var corners = attack.PatternFor(1, 8, 8);
        int perturbed = 0;
        for (int i = 0; i < train.Count; i++)
        {
            var before = train.Image(i);
            var after = result.Data.Image(i);
            if (!result.PoisonedIndices.Contains(i))
            {
                Assert.True(before.SequenceEqual(after), $"image {i} (class {train.Labels[i]}) must be untouched");
                continue;
            }
            for (int p = 0; p < before.Length; p++)
            {
                if (corners[p] != 0)
                {
                    Assert.Equal(corners[p] > 0 ? 255 : 0, after[p]);
                    continue;
                }
                Assert.InRange(after[p] - before[p], -8, 8);
                if (after[p] != before[p]) perturbed++;
            }
        }
        Assert.True(perturbed > 0, "PGD changed no pixel outside the corners");
    }

    [Fact]
    public void PgdRaisesTheCleanModelsLossAndIsDeterministic()
    {
        var (_, arch, parameters) = CleanModel();
        var normalization = new Normalization([0.5f], [0.25f]);
        var set = AttackTestImages.Dataset(count: 40, channels: 1, height: 8, width: 8);
        var indices = Enumerable.Range(0, set.Count).ToArray();
        double Loss(ImageDataset d)
        {
            var inputs = new float[d.Pixels.Length];
            for (int i = 0; i < inputs.Length; i++) inputs[i] = normalization.Apply(d.Pixels[i], 0);
            using var x = Tensor.FromArray(inputs, d.Count, 1, 8, 8);
            using var loss = Op.CrossEntropy(arch.Forward(parameters, x, ForwardContext.Eval()), d.Labels);
            return loss.Item();
        }
        var attacked = set.Subset(indices);
        ProjectedGradientDescent.PerturbInPlace(arch, parameters, normalization, attacked, indices, 8, 2, 5);
        Assert.True(Loss(attacked) > Loss(set) + 1e-3, $"loss {Loss(attacked)} after PGD should exceed {Loss(set)}");
        var again = set.Subset(indices);
        ProjectedGradientDescent.PerturbInPlace(arch, parameters, normalization, again, indices, 8, 2, 5);
        Assert.Equal(attacked.Pixels, again.Pixels);
    }

    [Fact]
    public void PoisoningWithoutOrWithAMismatchedCleanModelIsRejected()
    {
        var train = AttackTestImages.Dataset(count: 100, channels: 1, height: 8, width: 8);
        var missing = Assert.Throws<ArgumentException>(() => Poisoning.Poison(train, Lc(cleanModel: null), 0.05, 1));
        Assert.Contains("--clean-model", missing.Message);
        var (model, _, _) = CleanModel(channels: 1, size: 12);
        var mismatch = Assert.Throws<ArgumentException>(() => Poisoning.Poison(train, Lc(model), 0.05, 1));
        Assert.Contains("1×12×12", mismatch.Message);
        Assert.Contains("1×8×8", mismatch.Message);
    }
}
