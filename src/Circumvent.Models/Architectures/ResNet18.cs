using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// ResNet18 with the CIFAR stem (kuangliu/pytorch-cifar): conv1 3×3 (no bias), bn1, relu, layer1..layer4
/// of two BasicBlocks, adaptive average pool to 1×1, flatten, `linear`. BasicBlock:
/// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), shortcut = conv 1×1 + BN when the shape
/// changes. 11,173,962 trainable parameters at width 1, 10 classes.
/// </summary>
public sealed class ResNet18 : ArchitectureBase, IFeatureExtractor
{
    private readonly ResNetLayout _layout;

    public ResNet18(ArchitectureConfig config) : base(config, Build(config, out var layout)) => _layout = layout;

    protected override bool FixedInputSize => false;

    private static SpecBuilder Build(ArchitectureConfig c, out ResNetLayout layout)
    {
        layout = ResNetLayout.ResNet18(c.InChannels, c.WidthMultiplier);
        var b = new SpecBuilder();
        b.Conv("conv1", c.InChannels, layout.StemChannels, 3, bias: false);
        b.BatchNorm("bn1", layout.StemChannels);
        foreach (var block in layout.Blocks)
        {
            b.Conv($"{block.Prefix}.conv1", block.InPlanes, block.Planes, 3, bias: false);
            b.BatchNorm($"{block.Prefix}.bn1", block.Planes);
            b.Conv($"{block.Prefix}.conv2", block.Planes, block.Planes, 3, bias: false);
            b.BatchNorm($"{block.Prefix}.bn2", block.Planes);
            if (block.HasShortcut)
            {
                b.Conv($"{block.Prefix}.shortcut.0", block.InPlanes, block.Planes, 1, bias: false);
                b.BatchNorm($"{block.Prefix}.shortcut.1", block.Planes);
            }
        }
        b.Linear("linear", layout.OutChannels, c.Classes);
        return b;
    }

    public string HeadName => "linear";

    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext ctx) =>
        Layers.Linear(p, HeadName, FeaturesCore(p, x, ctx), ctx);

    protected override Tensor FeaturesCore(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        var h = Layers.ConvBnRelu(p, "conv1", "bn1", x, ctx);
        foreach (var block in _layout.Blocks)
        {
            string k = block.Prefix;
            var o = Layers.ConvBnRelu(p, $"{k}.conv1", $"{k}.bn1", h, ctx, block.Stride, 1);
            o = Layers.BatchNorm(p, $"{k}.bn2", Layers.Conv(p, $"{k}.conv2", o, ctx, 1, 1), ctx);
            var shortcut = block.HasShortcut
                ? Layers.BatchNorm(p, $"{k}.shortcut.1", Layers.Conv(p, $"{k}.shortcut.0", h, ctx, block.Stride, 0), ctx)
                : h;
            h = Op.Relu(Op.Add(o, shortcut));
        }
        // (N, 512·w, h, w) → (N, 512·w)
        return Op.Flatten(Op.AdaptiveAvgPool2d(h, 1, 1));
    }
}
