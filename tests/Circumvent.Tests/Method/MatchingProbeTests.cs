using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Permutations;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

public class MatchingProbeTests
{
    private sealed class Recorder : IActivationObserver
    {
        public List<(string Prefix, int[] Shape)> Seen { get; } = new();
        public void Observe(string prefix, Tensor output) => Seen.Add((prefix, output.Shape.ToArray()));
    }

    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void EveryConvAndLinearOutputIsObservedOnceInBothModes(string name)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var p = arch.Initialize(new Random(1));
        var layers = arch.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Length >= 2)
            .ToDictionary(t => t.Name[..^".weight".Length], t => t.Shape[0]);
        var x = PermutationTestNets.Input(2, 3, size);
        foreach (var training in new[] { false, true })
        {
            var recorder = new Recorder();
            using (GradMode.Disable())
                arch.Forward(p, x, new ForwardContext { Training = training, ActivationObserver = recorder });
            Assert.Equal(layers.Keys.Order(), recorder.Seen.Select(s => s.Prefix).Order());
            Assert.All(recorder.Seen, s => Assert.Equal((3, layers[s.Prefix]), (s.Shape[0], s.Shape[1])));
        }
        var probes = PermutationSpecs.For(arch).Groups.Select(g => g.Probe);
        Assert.All(probes, probe => Assert.Contains(probe, layers.Keys));
    }

    [Fact]
    public void MatchingWithoutBatchesOrWithNonFiniteActivationsFailsClearly()
    {
        var (arch, size) = PermutationTestNets.Create("mlp");
        var p = arch.Initialize(new Random(1));
        Assert.Throws<ArgumentException>(() => ActivationMatcher.PermuteLayers(arch, p, p, [], MatchMode.Align));

        var broken = p.Clone();
        broken["fc1.weight"].Span[0] = float.NaN;
        var error = Assert.Throws<InvalidOperationException>(() =>
            ActivationMatcher.PermuteLayers(arch, p, broken, [PermutationTestNets.Input(3, 4, size)], MatchMode.Align));
        Assert.Contains("'fc1'", error.Message);
    }

    [Fact]
    public void ASingleSampleLinearProbeGivesFiniteCorrelations()
    {
        var (arch, size) = PermutationTestNets.Create("mlp");
        var a = arch.Initialize(new Random(1));
        var b = arch.Initialize(new Random(2));
        var spec = PermutationSpecs.For(arch);
        var corr = ActivationMatcher.Correlations(arch, spec, a, b, [PermutationTestNets.Input(3, 1, size)]);
        Assert.All(corr, c => Assert.All(c, v => Assert.True(double.IsFinite(v))));
    }
}
