using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Permutations;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

public class MatchingTests
{
    private static List<Tensor> ProbeBatches(int seed, int count, int batch, int size) =>
        [.. Enumerable.Range(0, count).Select(i => PermutationTestNets.Input(seed + i, batch, size))];

    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void AligningAPermutedCopyRecoversThePermutationExactly(string name)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var reference = PermutationTestNets.Weights(arch, 21);
        var spec = PermutationSpecs.For(arch);
        var hidden = Permutation.Random(spec, new Random(22));
        var shuffled = Permutation.Apply(reference, spec, hidden);
        var batches = ProbeBatches(23, 6, 16, size);

        var match = ActivationMatcher.Match(arch, spec, reference, shuffled, batches, MatchMode.Align);
        // shuffled unit i is reference unit hidden[i], so reference unit i sits at hidden⁻¹[i].
        for (int g = 0; g < spec.Groups.Count; g++)
        {
            var inv = Permutation.Invert(hidden[g]); var got = match.Permutations[g]; int n = spec.Groups[g].Size;
            var c = match.Correlations[g];
            var msg = string.Join("; ", Enumerable.Range(0, n).Where(i => inv[i] != got[i]).Select(i => $"row {i}: true {inv[i]} c={c[i*n+inv[i]]:F4} got {got[i]} c={c[i*n+got[i]]:F4}"));
            Assert.True(inv.SequenceEqual(got),
                $"{name}: group '{spec.Groups[g].Name}' ({spec.Groups[g].Size} units) not recovered: {msg}");
        }

        var aligned = ActivationMatcher.PermuteLayers(arch, reference, shuffled, batches, MatchMode.Align);
        foreach (var e in reference) Assert.Equal(e.Tensor.ToArray(), aligned[e.Name].ToArray());
    }

    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void UnaligningLowersTheTotalCorrelationAndKeepsTheFunction(string name)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var reference = PermutationTestNets.Weights(arch, 31);
        var other = PermutationTestNets.Weights(arch, 32);
        var spec = PermutationSpecs.For(arch);
        var batches = ProbeBatches(33, 2, 8, size);

        var unalign = ActivationMatcher.Match(arch, spec, reference, reference, batches, MatchMode.Unalign);
        double identity = unalign.TotalCorrelation(Permutation.Identity(spec));
        double lowest = unalign.TotalCorrelation(unalign.Permutations);
        Assert.True(lowest < identity - 0.5 * spec.Groups.Count, $"{name}: UNALIGN total {lowest:F3} vs identity {identity:F3}");
        var align = ActivationMatcher.Match(arch, spec, reference, reference, batches, MatchMode.Align);
        Assert.Equal(Permutation.Identity(spec), align.Permutations);

        foreach (var mode in new[] { MatchMode.Align, MatchMode.Unalign })
        {
            var permuted = ActivationMatcher.PermuteLayers(arch, reference, other, batches, mode);
            var x = PermutationTestNets.Input(34, 3, size);
            PermutationTestNets.AssertSameLogits(PermutationTestNets.Logits(arch, other, x, false),
                PermutationTestNets.Logits(arch, permuted, x, false), $"{name} {mode}");
        }
    }

    [Theory]
    [InlineData("mlp", "fc1")]
    [InlineData("cnn-small", "conv3")]
    [InlineData("preact-resnet18", "layer2.0.conv1")]
    public void DeadUnitsGiveFiniteCorrelationsAndStillMatch(string name, string layer)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var reference = PermutationTestNets.Weights(arch, 41);
        // Unit 0 of `layer` is dead: zero weights and bias, so its activation is constant 0 (σ = 0).
        var weight = reference[layer + ".weight"];
        int row = weight.Length / weight.Shape[0];
        weight.Span[..row].Clear();
        if (reference.Contains(layer + ".bias")) reference[layer + ".bias"].Span[0] = 0f;

        var spec = PermutationSpecs.For(arch);
        var hidden = Permutation.Random(spec, new Random(42));
        var shuffled = Permutation.Apply(reference, spec, hidden);
        var batches = ProbeBatches(43, 2, 8, size);
        var match = ActivationMatcher.Match(arch, spec, reference, shuffled, batches, MatchMode.Align);

        int g = spec.Groups.ToList().FindIndex(group => group.Probe == layer);
        Assert.All(match.Correlations, c => Assert.All(c, v => Assert.True(double.IsFinite(v))));
        int n = spec.Groups[g].Size, deadInShuffled = Permutation.Invert(hidden[g])[0];
        for (int j = 0; j < n; j++) Assert.Equal(0.0, match.Correlations[g][j], 1e-6);
        for (int i = 0; i < n; i++) Assert.Equal(0.0, match.Correlations[g][i * n + deadInShuffled], 1e-6);
        Assert.Equal(Permutation.Invert(hidden[g]), match.Permutations[g]);

        var unaligned = ActivationMatcher.PermuteLayers(arch, reference, shuffled, batches, MatchMode.Unalign);
        var x = PermutationTestNets.Input(44, 3, size);
        PermutationTestNets.AssertSameLogits(PermutationTestNets.Logits(arch, reference, x, false),
            PermutationTestNets.Logits(arch, unaligned, x, false), name);
    }

    [Fact]
    public void CorrelationEqualsTheFormulaAveragedOverBatches()
    {
        var (arch, size) = PermutationTestNets.Create("cnn-small");
        var a = PermutationTestNets.Weights(arch, 51);
        var b = PermutationTestNets.Weights(arch, 52);
        var spec = PermutationSpecs.For(arch);
        var batches = ProbeBatches(53, 3, 4, size);
        int g = 1;
        string probe = spec.Groups[g].Probe;
        var corr = ActivationMatcher.Correlations(arch, spec, a, b, batches)[g];

        int n = spec.Groups[g].Size;
        // Each piece averaged over batches with equal weight, then combined.
        var cross = new double[n * n];
        double[] meanA = new double[n], meanB = new double[n], stdA = new double[n], stdB = new double[n];
        foreach (var batch in batches)
        {
            var xa = Rows(arch, a, batch, probe);
            var xb = Rows(arch, b, batch, probe);
            int rows = xa.GetLength(0);
            AddMeanStd(xa, meanA, stdA, batches.Count);
            AddMeanStd(xb, meanB, stdB, batches.Count);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double sum = 0;
                    for (int r = 0; r < rows; r++) sum += xa[r, i] * xb[r, j];
                    cross[i * n + j] += sum / rows / batches.Count;
                }
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double expected = (cross[i * n + j] - meanA[i] * meanB[j]) / (stdA[i] * stdB[j] + 1e-4);
                Assert.Equal(expected, corr[i * n + j], 1e-4);
            }
        Assert.Contains(corr, v => Math.Abs(v) > 0.05);
    }

    /// <summary>The probe's output as a plain (N·H·W, C) array, by naive indexing.</summary>
    private static double[,] Rows(IArchitecture arch, ParameterSet p, Tensor x, string probe)
    {
        var capture = new Capture(probe);
        using (GradMode.Disable()) arch.Forward(p, x, new ForwardContext { ActivationObserver = capture });
        var t = capture.Output ?? throw new InvalidOperationException("probe not seen");
        int n = t.Shape[0], c = t.Shape[1], s = t.Shape[2] * t.Shape[3];
        var rows = new double[n * s, c];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int k = 0; k < s; k++) rows[i * s + k, ch] = t.Span[(i * c + ch) * s + k];
        return rows;
    }

    /// <summary>Adds this batch's per-channel mean and unbiased std, divided by the batch count.</summary>
    private static void AddMeanStd(double[,] x, double[] meanSum, double[] stdSum, int batches)
    {
        int rows = x.GetLength(0), c = x.GetLength(1);
        for (int ch = 0; ch < c; ch++)
        {
            double mean = 0, squares = 0;
            for (int r = 0; r < rows; r++) mean += x[r, ch];
            mean /= rows;
            for (int r = 0; r < rows; r++) squares += (x[r, ch] - mean) * (x[r, ch] - mean);
            meanSum[ch] += mean / batches;
            stdSum[ch] += Math.Sqrt(squares / (rows - 1)) / batches;
        }
    }

    private sealed class Capture(string probe) : IActivationObserver
    {
        public Tensor? Output { get; private set; }
        public void Observe(string prefix, Tensor output)
        {
            if (prefix == probe) Output = output.Clone();
        }
    }
}
