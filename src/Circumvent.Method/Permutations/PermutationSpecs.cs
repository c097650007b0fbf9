using Circumvent.Models;

namespace Circumvent.Method.Permutations;

/// <summary>
/// The permutation specs of the built-in architectures, derived from their tensor specs (so any width
/// multiplier or input size works), and of described networks (derived from the description, see
/// <see cref="DescribedSpecs"/>). The output layer's rows and bias are never permuted. A SimCLR network
/// (<see cref="SimClrNetwork"/>) permutes its encoder only, with the last stream left alone so the features keep their
/// order: the projection head is never permuted and probes or kNN on the features stay valid (the authors'
/// find_permutation_ResNet18_woFC on model.f). A CLIP image tower (<see cref="ClipImageTower"/>) permutes all of its
/// backbone, the joint projection's columns following the last stream and its rows never permuted.
/// </summary>
public static class PermutationSpecs
{
    /// <summary>
    /// The spec of <paramref name="arch"/>. With <paramref name="keepLastStreamUnpermuted"/> the group that
    /// feeds the output layer (the last residual stream, or the last hidden layer) is left out, so the
    /// feature order stays valid for a head or probe trained on it (self-supervised encoders).
    /// </summary>
    public static PermutationSpec For(IArchitecture arch, bool keepLastStreamUnpermuted = false)
    {
        if (arch is SimClrNetwork simclr)
            return For(simclr.Encoder, keepLastStreamUnpermuted: true).Prefixed(SimClrNetwork.EncoderPrefix);
        // A CLIP image tower: every group of its backbone, the reads of the backbone's (absent) head moved onto visual.proj,
        // whose columns then follow the last stream while its rows, the joint space the text side lines up with, never move.
        // Nothing downstream reads the backbone's feature order (unlike a SimCLR encoder's probes), so its last stream may move.
        if (arch is ClipImageTower image)
        {
            string head = image.Backbone.HeadName + ".weight", projection = ClipImageTower.ProjectionName[ClipImageTower.Prefix.Length..] + ".weight";
            var backbone = For(image.Backbone);
            return new PermutationSpec([.. backbone.Groups.Select(g => g with
            {
                Consumers = [.. g.Consumers.Select(a => a.Tensor == head ? a with { Tensor = projection } : a)],
            })]).Prefixed(ClipImageTower.Prefix);
        }
        if (arch.Config.Description is { } description)
        {
            var derived = DescribedSpecs.For(arch, description);
            return keepLastStreamUnpermuted && derived.FeedsOutput is { } feeds ? derived.Spec.Without(feeds) : derived.Spec;
        }
        var b = new PermutationSpecBuilder(arch);
        var last = arch.Config.Name switch
        {
            "mlp" => Mlp(b),
            "cnn-small" => PlainConvStack(b, Enumerable.Range(1, 5).Select(i => ($"conv{i}", $"bn{i}")), "fc"),
            "vgg11" or "vgg16" or "vgg19" => PlainConvStack(b, VggLayers(arch), "classifier"),
            "preact-resnet18" => ResidualSpecs.PreActResNet(b, arch),
            "resnet18" => ResidualSpecs.ResNet(b, arch),
            "airnet" => AirNetStack(b),
            _ => throw new ArgumentException(
                $"No permutation spec for architecture '{arch.Config.Name}'. Known: mlp, cnn-small, vgg11, vgg16, vgg19, preact-resnet18, resnet18, airnet."),
        };
        var spec = b.Build();
        return keepLastStreamUnpermuted ? spec.Without(last.Name) : spec;
    }

    /// <summary>A copy of <paramref name="parameters"/> with every group of the architecture's spec randomly permuted.</summary>
    public static ParameterSet ApplyRandom(IArchitecture arch, ParameterSet parameters, Random rng)
    {
        var spec = For(arch);
        return Permutation.Apply(parameters, spec, Permutation.Random(spec, rng));
    }

    /// <summary>fc1 → fc2 → fc3: both hidden layers are groups; returns the one feeding the output.</summary>
    private static PermutationSpecBuilder.GroupBuilder Mlp(PermutationSpecBuilder b)
    {
        b.Group("fc1", "fc1").Writes("fc1").ReadBy("fc2");
        return b.Group("fc2", "fc2").Writes("fc2").ReadBy("fc3");
    }

    /// <summary>
    /// conv → BN → ReLU (→ pool) chains: each conv's output is one group (conv weight and bias, its BN),
    /// read by the next conv or, for the last, by the output layer.
    /// </summary>
    private static PermutationSpecBuilder.GroupBuilder PlainConvStack(PermutationSpecBuilder b,
        IEnumerable<(string Conv, string Bn)> layers, string head)
    {
        var list = layers.ToList();
        PermutationSpecBuilder.GroupBuilder? group = null;
        for (int i = 0; i < list.Count; i++)
        {
            var (conv, bn) = list[i];
            group = b.Group(conv, conv).Writes(conv).Norm(bn).ReadBy(i + 1 < list.Count ? list[i + 1].Conv : head);
        }
        return group ?? throw new InvalidOperationException("Permutation spec: the network has no convolutions.");
    }

    /// <summary>
    /// The whitening conv's outputs (weight rows and bias, read by the first group's conv1), then every group conv
    /// with its BN as a plain stack into the head: max-pool and GELU act per channel, so they commute with the permutation.
    /// </summary>
    private static PermutationSpecBuilder.GroupBuilder AirNetStack(PermutationSpecBuilder b)
    {
        var groups = AirNet.Groups;
        b.Group(AirNet.Whitening, AirNet.Whitening).Writes(AirNet.Whitening).ReadBy($"{groups[0]}.conv1");
        var layers = groups.SelectMany(g => new[] { ($"{g}.conv1", $"{g}.norm1"), ($"{g}.conv2", $"{g}.norm2") });
        return PlainConvStack(b, layers, AirNet.Head);
    }

    /// <summary>VGG's `features.{i}` convs (rank-4 weights) in order; each BN sits at index i + 1.</summary>
    private static IEnumerable<(string Conv, string Bn)> VggLayers(IArchitecture arch) =>
        arch.Tensors
            .Where(t => t.Name.StartsWith("features.", StringComparison.Ordinal) && t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Length == 4)
            .Select(t => t.Name[..^".weight".Length])
            .Select(conv => (conv, $"features.{int.Parse(conv["features.".Length..]) + 1}"));
}
