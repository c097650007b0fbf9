using Circumvent.Attacks.Sapa;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Attacks;

/// <summary>
/// SAPA's differentiable augmentation of the poisons (the authors' paugment): it is the training loader's crop/flip, its
/// δ-gradient through the matching loss agrees with finite differences, and crafting with it stays in the ε-ball.
/// </summary>
public class SapaAugmentationTests(ITestOutputHelper output)
{
    [Fact]
    public void AugmentationEqualsTheLoadersCropAndFlipOnNormalisedImages()
    {
        var rng = new Random(4);
        var pixels = new byte[12 * 3 * 8 * 8];
        rng.NextBytes(pixels);
        var batch = new RawBatch(pixels, new int[12], [.. Enumerable.Range(0, 12)], 3, 8, 8);
        // Offsets up to ±3 on 8×8 images: most images get padding, about half a flip.
        var transforms = Enumerable.Range(0, 12).Select(_ => SampleTransform.Draw(Augmentation.CropAndFlip(3), rng)).ToArray();
        Assert.Contains(transforms, t => t.Flip);
        Assert.Contains(transforms, t => t.OffsetX != 0 && t.OffsetY != 0);

        var loader = ImageTensors.ToTensor(batch, Normalization.Cifar10, transforms).ToArray();
        var ours = new PoisonAugmentation(transforms, Normalization.Cifar10, 8, 8).Apply(ImageTensors.ToTensor(batch, Normalization.Cifar10)).ToArray();
        for (int i = 0; i < loader.Length; i++) Assert.True(Math.Abs(loader[i] - ours[i]) <= 1e-5, $"value {i}: loader {loader[i]}, augmentation {ours[i]}");

        var identity = new PoisonAugmentation(new SampleTransform[12], Normalization.Cifar10, 8, 8);
        var unchanged = ImageTensors.ToTensor(batch, Normalization.Cifar10).ToArray();
        var same = identity.Apply(ImageTensors.ToTensor(batch, Normalization.Cifar10)).ToArray();
        Assert.True(unchanged.Zip(same).Max(p => Math.Abs(p.First - p.Second)) <= 1e-5, "the identity transform changed the images");
    }

    /// <summary>
    /// The augmentation's backward against central finite differences of a smooth function of its output, s(z) = Σ w·A(z)²
    /// (the sampling is linear in z, so in float32 the two agree closely).
    /// </summary>
    [Fact]
    public void AugmentationGradientAgreesWithFiniteDifferences()
    {
        var rng = new Random(5);
        var augmentation = PoisonAugmentation.Draw(3, Augmentation.CropAndFlip(2), Normalization.Cifar10, 6, 6, rng);
        var z0 = Enumerable.Range(0, 3 * 3 * 36).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var w = Tensor.FromArray([.. Enumerable.Range(0, z0.Length).Select(_ => (float)(rng.NextDouble() * 2 - 1))], 3, 3, 6, 6);
        double S(float[] z) => Op.Sum(Op.Mul(w, Op.Square(augmentation.Apply(Tensor.FromArray(z, 3, 3, 6, 6))))).Item();
        var zt = Tensor.Parameter(z0, 3, 3, 6, 6);
        var analytic = Gradients.Of(() => Op.Sum(Op.Mul(w, Op.Square(augmentation.Apply(zt)))), [zt])[0];
        const float h = 1e-2f;
        double worst = 0;
        for (int i = 0; i < z0.Length; i++)
        {
            var plus = (float[])z0.Clone();
            var minus = (float[])z0.Clone();
            plus[i] += h;
            minus[i] -= h;
            double numeric = (S(plus) - S(minus)) / (2 * h);
            worst = Math.Max(worst, Math.Abs(numeric - analytic[i]));
        }
        output.WriteLine($"max |backward − finite difference| over {z0.Length} inputs: {worst:E2}");
        Assert.True(worst <= 2e-3, $"the augmentation's gradient is off by {worst:E2}");
        Assert.Contains(analytic, g => g == 0f); // pixels cropped away get no gradient
    }

    /// <summary>
    /// Chain rule through the matching loss: with an augmentation A (A(x + δ) = A(x) + A₀δ, A₀ its linear part), the loss
    /// equals the plain loss at the augmented images A(x) and δ' = A₀δ, and its δ-gradient is A₀ᵀ of the plain gradient there
    /// (the plain gradient is checked against PyTorch in SapaTests) — in the SAM step, g_p and the mixed product alike.
    /// </summary>
    [Fact]
    public void MatchingGradientThroughTheAugmentationIsTheTransposedAugmentationOfThePlainOne()
    {
        var f = new SecondOrderFixture();
        var sources = (f.Data.F32("sapa.x_src"), f.Data.Labels("sapa.y_src"));
        var (images, labels) = (f.Data.F32("sapa.x_poi"), f.Data.Labels("sapa.y_poi"));
        var delta = f.Data.F32("sapa.delta_poi");
        var augmentation = PoisonAugmentation.Draw(labels.Length, Augmentation.CropAndFlip(2), Normalization.Cifar10, 8, 8, new Random(7));
        var (loss, gradient) = GradientMatching.LossAndGradient(f.Architecture, f.Model(), sources, (images, labels), delta, sigma: 0.01, augmentation);

        var augmented = augmentation.Apply(images);
        var shifted = Op.Sub(augmentation.Apply(Op.Add(images, delta)), augmented); // A₀δ
        var (plainLoss, plain) = GradientMatching.LossAndGradient(f.Architecture, f.Model(), sources, (augmented, labels), shifted, sigma: 0.01);
        var d = Tensor.Parameter(delta.ToArray(), delta.Shape.ToArray());
        var transposed = Gradients.Of(() => Op.Sum(Op.Mul(Tensor.FromArray(plain, delta.Shape.ToArray()), augmentation.Apply(Op.Add(images, d)))), [d])[0];

        double error = SecondOrderFixture.RelativeError([gradient], [transposed]);
        output.WriteLine($"loss {loss:G7} (plain at the augmented images {plainLoss:G7}); ∂loss/∂δ against A₀ᵀ·plain: relative error {error:E2}");
        Assert.Equal(plainLoss, loss, 1e-5);
        Assert.True(error <= 1e-2, $"relative error {error:E2}");
        var (_, unaugmented) = GradientMatching.LossAndGradient(f.Architecture, f.Model(), sources, (images, labels), delta, sigma: 0.01);
        Assert.True(SecondOrderFixture.RelativeError([gradient], [unaugmented]) > 0.1, "the augmentation did not change the gradient");
    }

    [Fact]
    public void CraftingWithTheAugmentationStaysWithinEpsilonAndMovesDeltaDifferently()
    {
        var f = new SecondOrderFixture();
        var normalization = Normalization.Cifar10;
        var (sources, poisons) = SapaTests.SourcesAndPoisons(normalization);
        var plain = SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, new SapaOptions { Steps = 8 }).Delta.ToArray();
        var options = new SapaOptions { Steps = 8, Augmentation = Augmentation.CropAndFlip(2), Seed = 3 };
        var (delta, losses) = SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, options);
        output.WriteLine("matching loss with augmentation: " + string.Join(" ", losses.Select(l => l.ToString("F4"))));
        var d = delta.Span;
        var x = poisons.Item1.Span;
        for (int i = 0; i < d.Length; i++)
        {
            int c = i / 64 % 3;
            Assert.True(Math.Abs(d[i] * normalization.Std[c] * 255) <= 16 + 1e-3, $"δ[{i}] beyond ε = 16/255");
            Assert.InRange((x[i] + d[i]) * normalization.Std[c] + normalization.Mean[c], -1e-5, 1 + 1e-5);
        }
        Assert.NotEqual(plain, delta.ToArray());
        // Same seed, same draws: crafting is reproducible.
        Assert.Equal(delta.ToArray(), SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, options).Delta.ToArray());
    }
}
