using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>
/// Specs of the two ResNet18 variants. Everything added into one residual stream shares one
/// permutation; a new stream starts where a block has a projection shortcut, whose output takes the new
/// stream's permutation and whose input the previous one's. Each block's conv1 output is a group of its own.
/// Stage 1 keeps the stem's width and has identity shortcuts, so the stem and layer1 form ONE stream:
/// 4 streams + 8 block-internal groups = 12 groups.
/// </summary>
internal static class ResidualSpecs
{
    private sealed record Block(string Prefix, bool HasShortcut);

    /// <summary>
    /// PreActResNet18: out = conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut, shortcut = conv(relu(bn1(x))) or x.
    /// bn1 of a block normalises the stream it reads, so it moves with that stream (for a stage's first block,
    /// the previous stage's stream). Streams are probed at the stem conv output / block-0 conv2 output before the
    /// residual add (the method doc; the authors' code): the probe point is that conv's own output, which the
    /// forward shows its observer even where it fuses the add.
    /// Returns the last stream (read by `linear`).
    /// </summary>
    public static PermutationSpecBuilder.GroupBuilder PreActResNet(PermutationSpecBuilder b, IArchitecture arch)
    {
        var stream = b.Group("stem", "conv1").Writes("conv1");
        foreach (var block in Blocks(arch))
        {
            string k = block.Prefix;
            stream.Norm($"{k}.bn1").ReadBy($"{k}.conv1");
            b.Group($"{k}.conv1", $"{k}.conv1").Writes($"{k}.conv1").Norm($"{k}.bn2").ReadBy($"{k}.conv2");
            if (block.HasShortcut)
            {
                stream.ReadBy($"{k}.shortcut.0");
                stream = b.Group(StageOf(k), $"{k}.conv2").Writes($"{k}.shortcut.0");
            }
            stream.Writes($"{k}.conv2");
        }
        return stream.ReadBy("linear");
    }

    /// <summary>
    /// ResNet18 (post-activation): out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut), shortcut = BN(conv(x)) or x.
    /// A stream's producers are the stem conv + bn1, every block's conv2 + bn2 and a projection's conv + BN.
    /// </summary>
    public static PermutationSpecBuilder.GroupBuilder ResNet(PermutationSpecBuilder b, IArchitecture arch)
    {
        var stream = b.Group("stem", "conv1").Writes("conv1").Norm("bn1");
        foreach (var block in Blocks(arch))
        {
            string k = block.Prefix;
            stream.ReadBy($"{k}.conv1");
            b.Group($"{k}.conv1", $"{k}.conv1").Writes($"{k}.conv1").Norm($"{k}.bn1").ReadBy($"{k}.conv2");
            if (block.HasShortcut)
            {
                stream.ReadBy($"{k}.shortcut.0");
                stream = b.Group(StageOf(k), $"{k}.conv2").Writes($"{k}.shortcut.0").Norm($"{k}.shortcut.1");
            }
            stream.Writes($"{k}.conv2").Norm($"{k}.bn2");
        }
        return stream.ReadBy("linear");
    }

    /// <summary>Blocks "layerS.B" in forward order, read from the tensor specs (a block exists iff its conv1 does).</summary>
    private static List<Block> Blocks(IArchitecture arch)
    {
        var names = arch.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return [.. arch.Tensors
            .Select(t => t.Name)
            .Where(n => n.StartsWith("layer", StringComparison.Ordinal) && n.EndsWith(".conv1.weight", StringComparison.Ordinal))
            .Select(n => n[..^".conv1.weight".Length])
            .Select(k => new Block(k, names.Contains($"{k}.shortcut.0.weight")))];
    }

    /// <summary>"layer3.0" → "layer3".</summary>
    private static string StageOf(string blockPrefix) => blockPrefix[..blockPrefix.IndexOf('.')];
}
