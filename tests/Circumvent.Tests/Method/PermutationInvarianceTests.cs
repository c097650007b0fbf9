using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Permutations;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

/// <summary>Small instances of every built-in architecture with informative BN state.</summary>
internal static class PermutationTestNets
{
    public static readonly string[] Names = ["mlp", "cnn-small", "vgg11", "vgg16", "vgg19", "preact-resnet18", "resnet18", "airnet"];

    public static TheoryData<string> All() => [.. Names];

    /// <summary>Tiny widths and inputs each network accepts: (architecture, input size).</summary>
    public static (IArchitecture Arch, int Size) Create(string name)
    {
        var (size, width) = name switch
        {
            "mlp" => (6, 0.03125),
            "cnn-small" => (16, 0.125),
            "vgg11" or "vgg16" or "vgg19" => (32, 0.0625),
            "airnet" => (16, 0.125), // 16 → 15 → 7 → 3 → 1 after the 2×2 conv and three pools
            _ => (8, 0.0625),
        };
        return (Architectures.Create(new ArchitectureConfig(name, 3, size, size, 5, width)), size);
    }

    /// <summary>
    /// Seeded weights whose BN γ, β and running statistics differ per channel (fresh ones are all 1/0,
    /// which would hide a BN tensor left unpermuted).
    /// </summary>
    public static ParameterSet Weights(IArchitecture arch, int seed)
    {
        var rng = new Random(seed);
        var p = arch.Initialize(rng);
        // Running statistics of one real batch first: PyTorch's default init shrinks activations ~2.4× per
        // layer, so deep VGG units with running stats 0/1 would be ~1e-4 and the 1e-4 correlation guard
        // would swamp them (eval mode would not renormalise).
        using (GradMode.Disable())
            arch.Forward(p, Input(seed, 16, arch.Config.Height), ForwardContext.Train(new RunningStatsUpdater(p, momentum: 1f), new Random(seed)));
        foreach (var e in p)
        {
            var s = e.Tensor.Span;
            if (e.Name.EndsWith(".running_var", StringComparison.Ordinal))
                for (int i = 0; i < s.Length; i++) s[i] *= (float)(0.75 + 0.5 * rng.NextDouble());
            else if (e.Name.EndsWith(".running_mean", StringComparison.Ordinal))
                for (int i = 0; i < s.Length; i++) s[i] += (float)(0.2 * (rng.NextDouble() - 0.5));
            else if (e.Tensor.Rank == 1 && IsBatchNorm(p, e.Name))
                for (int i = 0; i < s.Length; i++) s[i] += (float)(0.4 * (rng.NextDouble() - 0.5));
        }
        return p;
    }

    public static Tensor Input(int seed, int batch, int size) => Tensor.Randn(new Random(seed), batch, 3, size, size);

    public static Tensor Logits(IArchitecture arch, ParameterSet p, Tensor x, bool training)
    {
        using var _ = GradMode.Disable();
        return arch.Forward(p, x, training ? ForwardContext.Train(null, new Random(0)) : ForwardContext.Eval());
    }

    /// <summary>max |a − b| ≤ 1e-4 · max(1, max |a|).</summary>
    public static void AssertSameLogits(Tensor expected, Tensor actual, string what)
    {
        var a = expected.ToArray();
        var b = actual.ToArray();
        Assert.Equal(a.Length, b.Length);
        double scale = Math.Max(1.0, a.Max(v => Math.Abs((double)v)));
        double worst = a.Zip(b, (u, v) => Math.Abs((double)u - v)).Max();
        Assert.True(worst <= 1e-4 * scale, $"{what}: logits differ by {worst:G3} (scale {scale:G3})");
    }

    /// <summary>A random permutation of every group changes the weights but not the logits, in each given mode (training = batch statistics).</summary>
    public static void AssertRandomPermutationPreservesLogits(IArchitecture arch, int size, string name, bool[] modes)
    {
        var p = Weights(arch, 1);
        var spec = PermutationSpecs.For(arch);
        var perms = Permutation.Random(spec, new Random(2));
        Assert.Contains(perms, perm => perm.Where((v, i) => v != i).Any());
        var permuted = Permutation.Apply(p, spec, perms);
        Assert.Contains(p, e => !e.Tensor.ToArray().SequenceEqual(permuted[e.Name].ToArray()));

        var x = Input(3, 4, size);
        foreach (var training in modes)
            AssertSameLogits(Logits(arch, p, x, training), Logits(arch, permuted, x, training), $"{name} {(training ? "train" : "eval")}");
    }

    /// <summary>
    /// Every BN running statistic the spec moves ends up at its channel's new index, and every buffer of
    /// the network is moved (all BNs of the test networks normalise permutable units).
    /// </summary>
    public static void AssertBatchNormStatisticsMove(IArchitecture arch)
    {
        var p = Weights(arch, 6);
        var spec = PermutationSpecs.For(arch);
        var perms = Permutation.Random(spec, new Random(7));
        var permuted = Permutation.Apply(p, spec, perms);
        int checkedBuffers = 0;
        for (int g = 0; g < spec.Groups.Count; g++)
            foreach (var axis in spec.Groups[g].Producers.Where(a => a.Tensor.EndsWith(".running_var") || a.Tensor.EndsWith(".running_mean")))
            {
                var inverse = Permutation.Invert(perms[g]);
                var before = p[axis.Tensor].ToArray();
                var after = permuted[axis.Tensor].ToArray();
                // The value old channel k held now sits at the index k moved to.
                for (int k = 0; k < before.Length; k++) Assert.Equal(before[k], after[inverse[k]]);
                checkedBuffers++;
            }
        Assert.Equal(arch.Tensors.Count(t => t.Role == TensorRole.Buffer), checkedBuffers);
    }

    private static bool IsBatchNorm(ParameterSet p, string name)
    {
        int dot = name.LastIndexOf('.');
        return p.Contains(name[..dot] + ".running_mean");
    }
}

public class PermutationInvarianceTests
{
    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void RandomPermutationPreservesLogitsInEvalAndTrainMode(string name)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        PermutationTestNets.AssertRandomPermutationPreservesLogits(arch, size, name, [false, true]);
    }

    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void ApplyThenInverseIsBitExactIdentity(string name)
    {
        var (arch, _) = PermutationTestNets.Create(name);
        var p = PermutationTestNets.Weights(arch, 4);
        var spec = PermutationSpecs.For(arch);
        var perms = Permutation.Random(spec, new Random(5));
        var back = Permutation.Apply(Permutation.Apply(p, spec, perms), spec, Permutation.Inverse(perms));
        Assert.Equal(p.Names, back.Names);
        foreach (var e in p)
        {
            Assert.Equal(e.Role, back.RoleOf(e.Name));
            Assert.Equal(e.Tensor.Shape, back[e.Name].Shape);
            Assert.Equal(e.Tensor.RequiresGrad, back[e.Name].RequiresGrad);
            Assert.Equal(e.Tensor.ToArray(), back[e.Name].ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void BatchNormStatisticsMoveWithTheirChannels(string name)
    {
        PermutationTestNets.AssertBatchNormStatisticsMove(PermutationTestNets.Create(name).Arch);
    }

    [Fact]
    public void ChannelValueLandsAtItsNewIndex()
    {
        var (arch, _) = PermutationTestNets.Create("preact-resnet18");
        var p = PermutationTestNets.Weights(arch, 8);
        var spec = PermutationSpecs.For(arch);
        int stem = spec.Groups.ToList().FindIndex(g => g.Name == "stem");
        var perms = Permutation.Identity(spec);
        perms[stem] = [.. Enumerable.Range(0, spec.Groups[stem].Size).Select(i => (i + 1) % spec.Groups[stem].Size)];
        int size = spec.Groups[stem].Size, inputs = p["layer2.0.shortcut.0.weight"].Shape[1];
        p["layer2.0.bn1.running_var"].Span[0] = 42f;
        p["layer2.0.shortcut.0.weight"].Span[0] = 7f; // [out 0, in 0]: the stem stream is its input axis
        var permuted = Permutation.Apply(p, spec, perms);
        // new[i] = old[perm[i]] with perm[i] = i + 1: old channel 0 is new channel size − 1.
        Assert.Equal(42f, permuted["layer2.0.bn1.running_var"].Span[size - 1]);
        Assert.Equal(7f, permuted["layer2.0.shortcut.0.weight"].Span[size - 1]);
        Assert.Equal(size, inputs);
        Assert.Equal(p["conv1.weight"].ToArray()[..27], permuted["conv1.weight"].ToArray()[((size - 1) * 27)..(size * 27)]);
    }

    [Fact]
    public void ApplyRandomKeepsTheFunctionAndChangesTheWeights()
    {
        var (arch, size) = PermutationTestNets.Create("resnet18");
        var p = PermutationTestNets.Weights(arch, 9);
        var permuted = PermutationSpecs.ApplyRandom(arch, p, new Random(10));
        Assert.NotEqual(p["layer3.0.conv1.weight"].ToArray(), permuted["layer3.0.conv1.weight"].ToArray());
        var x = PermutationTestNets.Input(11, 3, size);
        PermutationTestNets.AssertSameLogits(PermutationTestNets.Logits(arch, p, x, false), PermutationTestNets.Logits(arch, permuted, x, false), "resnet18");
    }
}
