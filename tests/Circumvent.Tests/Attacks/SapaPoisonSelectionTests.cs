using Circumvent.Attacks;
using Circumvent.Attacks.Sapa;
using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;

namespace Circumvent.Tests.Attacks;

/// <summary>SAPA's poison selection by gradient norm (`--sapa-select-poisons`, Sleeper Agent's max_gradient).</summary>
public class SapaPoisonSelectionTests
{
    /// <summary>
    /// Softmax regression (flatten + linear, 4 inputs, 3 classes): ∇W CE = (p − e_y) xᵀ and ∇b CE = p − e_y, so the gradient's norm
    /// is ‖p − e_y‖·√(‖x‖² + 1), with p = softmax(W x + b), computed here by hand.
    /// </summary>
    [Fact]
    public void PerImageGradientNormsMatchAHandComputationForSoftmaxRegression()
    {
        var architecture = Architectures.Create(DescriptionParser.ParseJson("""
            { "input": [1, 2, 2], "classes": 3, "layers": [
              { "type": "flatten" }, { "type": "linear", "name": "fc", "in_features": 4, "out_features": 3 } ] }
            """, "softmax-regression.json").ToConfig());
        var model = architecture.Initialize(new Random(1));
        float[] w = model["fc.weight"].ToArray(), b = model["fc.bias"].ToArray();
        float[] pixels = [0.5f, -1f, 2f, 0.25f, /**/ 0f, 0f, 0f, 0f, /**/ -2f, 1f, 1.5f, -0.5f, /**/ 3f, 3f, -3f, 1f];
        int[] labels = [0, 1, 2, 1];

        var norms = GradientNormSelection.PerImage(architecture, model, Tensor.FromArray(pixels, 4, 1, 2, 2), labels);

        for (int n = 0; n < 4; n++)
        {
            var x = pixels.AsSpan(n * 4, 4).ToArray();
            var logits = Enumerable.Range(0, 3).Select(k => b[k] + Enumerable.Range(0, 4).Sum(j => (double)w[k * 4 + j] * x[j])).ToArray();
            double max = logits.Max(), sum = logits.Sum(z => Math.Exp(z - max));
            double residual = Enumerable.Range(0, 3).Sum(k => Math.Pow(Math.Exp(logits[k] - max) / sum - (k == labels[n] ? 1 : 0), 2));
            double expected = Math.Sqrt(residual * (x.Sum(v => (double)v * v) + 1));
            Assert.Equal(expected, norms[n], 5);
        }
    }

    [Fact]
    public void LargestKeepsTheTopNormsInIndexOrder()
    {
        Assert.Equal([1, 3], GradientNormSelection.Largest([0.5, 2.0, 0.1, 1.5], 2));
        Assert.Equal([0, 2], GradientNormSelection.Largest([1.0, 0.5, 1.0], 2)); // a tie goes to the earlier
        Assert.Empty(GradientNormSelection.Largest([1.0], 0));
    }

    /// <summary>
    /// Through Poisoning: with the switch on, the poisoned images are the target-class ones with the largest norms under the
    /// surrogate file (computed here directly), in ascending order, and the definition records the switch; off, the usual draw.
    /// </summary>
    [Fact]
    public void SapaPoisonsTheTargetClassImagesWithTheLargestGradientNorms()
    {
        var rng = new Random(5);
        var pixels = new byte[80 * 3 * 64];
        rng.NextBytes(pixels);
        var set = new ImageDataset(pixels, [.. Enumerable.Range(0, 80).Select(i => i % 4)], 3, 8, 8, ["a", "b", "c", "d"]);
        var architecture = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 8, 8, 4, 0.125));
        var surrogate = architecture.Initialize(new Random(9));
        var path = AttackTestImages.TempFile("sapa-select-surrogate.safetensors");
        new ModelCheckpoint
        {
            Architecture = architecture.Config, Parameters = surrogate,
            NormalizationMean = Normalization.Cifar10.Mean, NormalizationStd = Normalization.Cifar10.Std,
        }.Save(path);
        AttackDefinition Definition(bool select) => new()
        {
            Kind = "sapa", Target = 2, CleanModel = path, SapaSteps = 2, SapaSources = 8, SapaPatchSize = 3, PoisonRate = 0.05, SapaSelectPoisons = select,
        };

        var candidates = Enumerable.Range(0, 80).Where(i => set.Labels[i] == 2).ToArray();
        var images = new float[candidates.Length * 192];
        for (int n = 0; n < candidates.Length; n++)
            for (int p = 0; p < 192; p++) images[n * 192 + p] = Normalization.Cifar10.Apply(set.Image(candidates[n])[p], p / 64);
        var norms = GradientNormSelection.PerImage(architecture, surrogate, Tensor.FromArray(images, candidates.Length, 3, 8, 8), [.. candidates.Select(_ => 2)]);
        var expected = candidates.Where((_, k) => norms.Count(v => v > norms[k]) < 4).ToArray();

        var selected = Poisoning.Poison(set, AttackFactory.Create(Definition(true)), 0.05, seed: 1);
        var drawn = Poisoning.Poison(set, AttackFactory.Create(Definition(false)), 0.05, seed: 1);
        Assert.Equal(expected, selected.PoisonedIndices);
        Assert.Equal(Poisoning.RandomChoice(candidates, 4, 1), drawn.PoisonedIndices);
        Assert.NotEqual(drawn.PoisonedIndices, selected.PoisonedIndices);
        Assert.Contains("\"sapa_select_poisons\":true", Definition(true).ToJson());
        Assert.DoesNotContain("sapa_select_poisons", Definition(false).ToJson());
    }
}
