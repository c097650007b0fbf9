using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Permutations;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

/// <summary>
/// A permutation group's probe point is the named layer's own output (before any residual add, norm or
/// activation), whatever the forward fuses: activation matching reads exactly that.
/// </summary>
public class ProbePointTests
{
    /// <summary>Copies what the forward shows an activation observer at the given probe names.</summary>
    private sealed class ProbeCopies(IEnumerable<string> probes) : IActivationObserver
    {
        private readonly HashSet<string> _probes = [.. probes];
        public Dictionary<string, Tensor> Seen { get; } = [];

        public void Observe(string prefix, Tensor output)
        {
            if (_probes.Contains(prefix)) Seen[prefix] = output.Clone();
        }
    }

    private static Dictionary<string, Tensor> Probes(IArchitecture arch, ParameterSet p, Tensor x, IEnumerable<string> probes)
    {
        var copies = new ProbeCopies(probes);
        using (GradMode.Disable()) arch.Forward(p, x, new ForwardContext { ActivationObserver = copies });
        return copies.Seen;
    }

    /// <summary>
    /// The unfused activation of a conv/linear layer L is L(input) = W·input + b: linear in (W, b) jointly. So with
    /// L's weight and bias zeroed the probe must be exactly 0, and with both doubled exactly twice the original; a
    /// residual (or anything else) added into what the probe returns breaks both.
    /// </summary>
    [Theory]
    [MemberData(nameof(PermutationTestNets.All), MemberType = typeof(PermutationTestNets))]
    public void EveryProbeIsItsLayersOwnOutputWithNothingAddedIn(string name)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var p = PermutationTestNets.Weights(arch, 1);
        var x = PermutationTestNets.Input(2, 3, size);
        var spec = PermutationSpecs.For(arch);
        var original = Probes(arch, p, x, spec.Groups.Select(g => g.Probe));
        foreach (var group in spec.Groups)
        {
            string layer = group.Probe;
            Assert.Equal(group.Size, original[layer].Shape[1]);
            Assert.Contains(original[layer].ToArray(), v => v != 0);
            foreach (var factor in new[] { 0f, 2f })
            {
                var scaled = p.Clone();
                foreach (var key in new[] { layer + ".weight", layer + ".bias" }.Where(scaled.Contains))
                {
                    var s = scaled[key].Span;
                    for (int i = 0; i < s.Length; i++) s[i] *= factor;
                }
                var seen = Probes(arch, scaled, x, [layer])[layer].ToArray();
                var expected = original[layer].ToArray();
                for (int i = 0; i < expected.Length; i++)
                    Assert.True(Math.Abs(seen[i] - factor * expected[i]) <= 1e-5f * (1 + Math.Abs(expected[i])),
                        $"{name}, probe '{layer}' with its weights ×{factor}: entry {i} is {seen[i]}, its own output would be {factor * expected[i]}.");
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="handForward"/>(p, x, record) — the network written out by hand from unfused ops, passing
    /// every conv's own output to record(layer, output) and returning the logits — checks it is the network (same
    /// logits), then that every probe of the spec shows exactly the recorded activation.
    /// </summary>
    private static void AssertProbesEqualHandComputed(string name, int seed, Func<ParameterSet, Tensor, Func<string, Tensor, Tensor>, Tensor> handForward)
    {
        var (arch, size) = PermutationTestNets.Create(name);
        var p = PermutationTestNets.Weights(arch, seed);
        var x = PermutationTestNets.Input(seed + 1, 3, size);
        var expected = new Dictionary<string, Tensor>();
        Tensor logits;
        using (GradMode.Disable()) logits = handForward(p, x, (layer, output) => expected[layer] = output);
        PermutationTestNets.AssertSameLogits(PermutationTestNets.Logits(arch, p, x, training: false), logits, $"hand-written {name}");
        var probes = PermutationSpecs.For(arch).Groups.Select(g => g.Probe).ToList();
        var seen = Probes(arch, p, x, probes);
        foreach (var probe in probes)
            PermutationTestNets.AssertSameLogits(expected[probe], seen[probe], $"{name}, probe '{probe}' against the unfused activation");
    }

    /// <summary>(stage, block) of ResNet18's eight blocks in order; a stage's first block strides 2 after stage 1.</summary>
    private static IEnumerable<(string Prefix, int Stride)> Blocks() =>
        Enumerable.Range(1, 4).SelectMany(stage => new[] { ($"layer{stage}.0", stage > 1 ? 2 : 1), ($"layer{stage}.1", 1) });

    /// <summary>
    /// PreActResNet18 fuses conv2 with the residual add; its stream probes (layer2.0.conv2, …) must still be conv2's own output.
    /// </summary>
    [Fact]
    public void PreActResNetProbesEqualTheUnfusedConvOutputsComputedByHand()
    {
        Assert.Contains("layer2.0.conv2", PermutationSpecs.For(PermutationTestNets.Create("preact-resnet18").Arch).Groups.Select(g => g.Probe));
        AssertProbesEqualHandComputed("preact-resnet18", 3, (p, x, record) =>
        {
            Tensor Conv(string layer, Tensor input, int stride, int padding) => record(layer, Op.Conv2d(input, p[layer + ".weight"], null, stride, padding));
            Tensor BnRelu(string bn, Tensor input) => Op.Relu(Layers.BatchNorm(p, bn, input, ForwardContext.Eval()));
            var h = Conv("conv1", x, 1, 1);
            foreach (var (k, stride) in Blocks())
            {
                var pre = BnRelu($"{k}.bn1", h);
                var shortcut = p.Contains($"{k}.shortcut.0.weight") ? Conv($"{k}.shortcut.0", pre, stride, 0) : h;
                var o = Conv($"{k}.conv1", pre, stride, 1);
                h = Op.Add(Conv($"{k}.conv2", BnRelu($"{k}.bn2", o), 1, 1), shortcut);
            }
            return Op.Linear(Op.Flatten(Op.AdaptiveAvgPool2d(h, 1, 1)), p["linear.weight"], p["linear.bias"]);
        });
    }

    /// <summary>The same for ResNet18 (post-activation): its stream probes are block-0 conv2 outputs, before bn2 and the add.</summary>
    [Fact]
    public void ResNetProbesEqualTheUnfusedConvOutputsComputedByHand()
    {
        AssertProbesEqualHandComputed("resnet18", 5, (p, x, record) =>
        {
            Tensor ConvBn(string conv, string bn, Tensor input, int stride, int padding) =>
                Layers.BatchNorm(p, bn, record(conv, Op.Conv2d(input, p[conv + ".weight"], null, stride, padding)), ForwardContext.Eval());
            var h = Op.Relu(ConvBn("conv1", "bn1", x, 1, 1));
            foreach (var (k, stride) in Blocks())
            {
                var o = ConvBn($"{k}.conv2", $"{k}.bn2", Op.Relu(ConvBn($"{k}.conv1", $"{k}.bn1", h, stride, 1)), 1, 1);
                var shortcut = p.Contains($"{k}.shortcut.0.weight") ? ConvBn($"{k}.shortcut.0", $"{k}.shortcut.1", h, stride, 0) : h;
                h = Op.Relu(Op.Add(o, shortcut));
            }
            return Op.Linear(Op.Flatten(Op.AdaptiveAvgPool2d(h, 1, 1)), p["linear.weight"], p["linear.bias"]);
        });
    }
}
