using Circumvent.Attacks.Sapa;
using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Attacks;

/// <summary>SAPA's gradient-matching loss and its δ-gradient against PyTorch's double backward; the crafting loop's descent and ε-ball.</summary>
public class SapaTests(ITestOutputHelper output)
{
    /// <summary>As SecondOrderProductsTests' (one mixed product, the weights shifted).</summary>
    private const double Tolerance = 2e-2;

    [Fact]
    public void MatchingLossAndItsDeltaGradientMatchPyTorchsDoubleBackward()
    {
        var f = new SecondOrderFixture();
        var (loss, gradient) = GradientMatching.LossAndGradient(f.Architecture, f.Model(), (f.Data.F32("sapa.x_src"), f.Data.Labels("sapa.y_src")),
            (f.Data.F32("sapa.x_poi"), f.Data.Labels("sapa.y_poi")), f.Data.F32("sapa.delta_poi"), sigma: 0.01);
        float torchLoss = f.Data.F32("sapa.loss").Item();
        double error = SecondOrderFixture.RelativeError([gradient], [f.Data.F32("sapa.grad_delta").ToArray()]);
        output.WriteLine($"loss ours {loss:G7} torch {torchLoss:G7}; ∂loss/∂δ max |ours − torch| / max |torch| = {error:E2}");
        Assert.Equal(torchLoss, loss, 1e-5);
        Assert.True(error <= Tolerance, $"∂loss/∂δ relative error {error:E2}");
    }

    /// <summary>
    /// On the fixture's surrogate: random 8×8 images, sources carrying a 3×3 patch and labelled the target, clean poisons of
    /// the target class. 15 signAdam steps must lower the matching loss by a fifth, and every δ must stay within ε (pixel scale) and
    /// keep the poisoned pixels in [0, 1].
    /// </summary>
    [Fact]
    public void CraftingLowersTheMatchingLossWithinTheEpsilonBall()
    {
        var f = new SecondOrderFixture();
        var normalization = Normalization.Cifar10;
        var (sources, poisons) = SourcesAndPoisons(normalization);
        var options = new SapaOptions { Steps = 15, Epsilon = 16 };
        var (delta, losses) = SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, options);
        output.WriteLine("matching loss: " + string.Join(" ", losses.Select(l => l.ToString("F4"))));
        // Same labels on an untrained net: the gradients start nearly aligned (loss ~6e-3), so ask for a relative fall.
        Assert.True(losses[^1] < 0.8 * losses[0], $"the matching loss went from {losses[0]:F4} to {losses[^1]:F4}");

        var d = delta.Span;
        var x = poisons.Item1.Span;
        for (int i = 0; i < d.Length; i++)
        {
            int c = i / 64 % 3;
            double pixelStep = d[i] * normalization.Std[c] * 255;
            Assert.True(Math.Abs(pixelStep) <= 16 + 1e-3, $"δ[{i}] is {pixelStep:F3}/255, beyond ε = 16/255");
            double pixel = (x[i] + d[i]) * normalization.Std[c] + normalization.Mean[c];
            Assert.InRange(pixel, -1e-5, 1 + 1e-5);
        }
        Assert.Contains(d.ToArray(), v => Math.Abs(v * 255 * 0.25) > 4); // δ moved (15 steps from 0.1 normalised units down)
    }

    /// <summary>Random 8×8 images (normalised): 6 sources with a 3×3 patch labelled 2, 4 clean poisons of class 2.</summary>
    internal static ((Tensor, int[]) Sources, (Tensor, int[]) Poisons) SourcesAndPoisons(Normalization normalization)
    {
        var rng = new Random(3);
        Tensor Images(int n, bool patched)
        {
            var pixels = new float[n * 3 * 64];
            for (int i = 0; i < pixels.Length; i++)
            {
                int c = i / 64 % 3, y = i % 64 / 8, x = i % 8;
                float value = patched && y >= 5 && x >= 5 ? (c == (x + y) % 3 ? 1f : 0f) : (float)rng.NextDouble();
                pixels[i] = (value - normalization.Mean[c]) / normalization.Std[c];
            }
            return Tensor.FromArray(pixels, n, 3, 8, 8);
        }
        return ((Images(6, patched: true), Enumerable.Repeat(2, 6).ToArray()), (Images(4, patched: false), Enumerable.Repeat(2, 4).ToArray()));
    }

    /// <summary>
    /// The authors' signAdam rate is tau = 0.1 in normalised input units (Sleeper Agent's "rule 2"), so the first step from
    /// δ = 0 moves every pixel with a gradient by 0.1 (unless that leaves [0, 1]) — inside ε = 16/255 (≈ 0.25 in those units);
    /// of 3 steps the second and third are decayed to 0.001 and 0.0001, so |δ| ends within 0.0011 of 0.1. The rate had been
    /// 0.1·ε/255 (≈ 0.0063), sixteen times smaller, and 100 steps barely reached the ε-ball.
    /// </summary>
    [Fact]
    public void TheFirstStepMovesDeltaByTheAuthorsTauInNormalisedUnits()
    {
        var f = new SecondOrderFixture();
        var options = new SapaOptions { Steps = 3, Epsilon = 16 };
        var (sources, poisons) = SourcesAndPoisons(Normalization.Cifar10);
        var (delta, _) = SapaCrafting.Craft(f.Architecture, f.Model(), Normalization.Cifar10, sources, poisons, options);
        var sizes = delta.ToArray().Select(Math.Abs).ToArray();
        bool NearTau(float v) => Math.Abs(v - 0.1) <= 0.0012;
        output.WriteLine($"|δ| after 3 steps: max {sizes.Max():G5}, share within 0.0012 of 0.1: {sizes.Count(NearTau) / (double)sizes.Length:P0}");
        Assert.InRange(sizes.Max(), 0.0988, 0.1012);
        Assert.True(sizes.Count(NearTau) > sizes.Length / 2, "most pixels should move by the full first step");
    }

    /// <summary>The authors' MultiStepLR: ×0.1 from ⌊steps/2.667⌋, ⌊steps/1.6⌋ and ⌊steps/1.142⌋ (93, 156, 218 of 250).</summary>
    [Theory]
    [InlineData(0, 250, 0.1)]
    [InlineData(92, 250, 0.1)]
    [InlineData(93, 250, 0.01)]
    [InlineData(155, 250, 0.01)]
    [InlineData(156, 250, 0.001)]
    [InlineData(217, 250, 0.001)]
    [InlineData(218, 250, 0.0001)]
    [InlineData(36, 100, 0.1)]
    [InlineData(37, 100, 0.01)]
    [InlineData(99, 100, 0.0001)]
    public void TheStepSizeDecaysAtTheAuthorsMilestones(int step, int steps, double expected) =>
        Assert.Equal(expected, SapaCrafting.StepSize(step, steps, 0.1), 12);
}

/// <summary>`--attack sapa` as an <see cref="Circumvent.Attacks.IAttack"/>: its patch, and poisoning a tiny training set against a surrogate file.</summary>
public class SapaAttackTests
{
    private static Circumvent.Attacks.Sapa.SapaAttack Sapa(string? cleanModel, int steps = 5) =>
        (Circumvent.Attacks.Sapa.SapaAttack)Circumvent.Attacks.AttackFactory.Create(new Circumvent.Attacks.AttackDefinition
        {
            Kind = "sapa", Target = 2, CleanModel = cleanModel, SapaSteps = steps, SapaSources = 8, SapaPatchSize = 3, PoisonRate = 0.1,
        });

    [Fact]
    public void TriggerIsABlackAndWhitePatchInTheBottomRightCorner()
    {
        var attack = Sapa(null);
        var image = Enumerable.Repeat((byte)100, 3 * 8 * 8).ToArray();
        attack.ApplyTrigger(image, 3, 8, 8);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                {
                    byte v = image[(c * 8 + y) * 8 + x];
                    if (y >= 5 && x >= 5) Assert.Equal(attack.PatchValue(c, y - 5, x - 5), v);
                    else Assert.Equal(100, v);
                }
        Assert.Contains(image, v => v == 0);
        Assert.Contains(image, v => v == 255);
        Assert.True(((Circumvent.Attacks.IAttack)attack).CleanLabel);
    }

    [Fact]
    public void PoisoningPerturbsTargetImagesWithinEpsilonAndKeepsTheirLabels()
    {
        var f = new SecondOrderFixture();
        var path = AttackTestImages.TempFile("sapa-surrogate.safetensors");
        new Circumvent.Models.Checkpoints.ModelCheckpoint
        {
            Architecture = f.Architecture.Config, Parameters = f.Model(),
            NormalizationMean = Normalization.Cifar10.Mean, NormalizationStd = Normalization.Cifar10.Std,
        }.Save(path);
        var rng = new Random(5);
        var pixels = new byte[40 * 3 * 64];
        rng.NextBytes(pixels);
        var train = new ImageDataset(pixels, [.. Enumerable.Range(0, 40).Select(i => i % 4)], 3, 8, 8, ["a", "b", "c", "d"]);

        var result = Circumvent.Attacks.Poisoning.Poison(train, Sapa(path), 0.1, seed: 1);
        Assert.Equal(4, result.PoisonedIndices.Length);
        Assert.All(result.PoisonedIndices, i => Assert.Equal(2, train.Labels[i]));
        Assert.Equal(train.Labels, result.Data.Labels);
        int changed = 0;
        for (int i = 0; i < train.Count; i++)
        {
            var before = train.Image(i).ToArray();
            var after = result.Data.Image(i).ToArray();
            if (!result.PoisonedIndices.Contains(i)) { Assert.Equal(before, after); continue; }
            for (int p = 0; p < before.Length; p++)
            {
                Assert.True(Math.Abs(after[p] - before[p]) <= 16 + 1, $"image {i} pixel {p}: {before[p]} → {after[p]}, beyond ε = 16 (+ rounding)");
                if (after[p] != before[p]) changed++;
            }
        }
        Assert.True(changed > 0, "no poison pixel changed");

        var missing = Assert.Throws<ArgumentException>(() => Circumvent.Attacks.Poisoning.Poison(train, Sapa(null), 0.1, seed: 1));
        Assert.Contains("--clean-model", missing.Message);
    }
}
