using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// PreActResNet18 exactly as BackdoorBench defines it: conv1 (3×3, no bias), layer1..layer4 of two
/// PreActBlocks (64, 128, 256, 512 planes × width; strides 1, 2, 2, 2), no final BN/ReLU, adaptive
/// average pool to 1×1, flatten, `linear`. 11,171,146 trainable parameters at width 1, 10 classes.
/// </summary>
public sealed class PreActResNet18 : ArchitectureBase, IFeatureExtractor
{
    private readonly ResNetLayout _layout;

    public PreActResNet18(ArchitectureConfig config) : base(config, Build(config, out var layout)) => _layout = layout;

    protected override bool FixedInputSize => false;

    private static SpecBuilder Build(ArchitectureConfig c, out ResNetLayout layout)
    {
        layout = ResNetLayout.ResNet18(c.InChannels, c.WidthMultiplier);
        var b = new SpecBuilder();
        b.Conv("conv1", c.InChannels, layout.StemChannels, 3, bias: false);
        foreach (var block in layout.Blocks)
        {
            // PreActBlock registration order: bn1, conv1, bn2, conv2, shortcut.
            b.BatchNorm($"{block.Prefix}.bn1", block.InPlanes);
            b.Conv($"{block.Prefix}.conv1", block.InPlanes, block.Planes, 3, bias: false);
            b.BatchNorm($"{block.Prefix}.bn2", block.Planes);
            b.Conv($"{block.Prefix}.conv2", block.Planes, block.Planes, 3, bias: false);
            if (block.HasShortcut) b.Conv($"{block.Prefix}.shortcut.0", block.InPlanes, block.Planes, 1, bias: false);
        }
        b.Linear("linear", layout.OutChannels, c.Classes);
        return b;
    }

    public string HeadName => "linear";

    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext ctx) =>
        Layers.Linear(p, HeadName, FeaturesCore(p, x, ctx), ctx);

    protected override Tensor FeaturesCore(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        var h = Layers.Conv(p, "conv1", x, ctx, stride: 1, padding: 1);
        foreach (var block in _layout.Blocks)
        {
            string k = block.Prefix;
            // The projection shortcut sees the pre-activated input; the identity shortcut the raw one.
            // Where conv1 is the only reader of relu(bn1(h)), the fused op keeps no copy of it.
            Tensor o, shortcut;
            if (block.HasShortcut)
            {
                var pre = Layers.BatchNormRelu(p, $"{k}.bn1", h, ctx);
                shortcut = Layers.Conv(p, $"{k}.shortcut.0", pre, ctx, block.Stride, 0);
                o = Layers.Conv(p, $"{k}.conv1", pre, ctx, block.Stride, 1);
            }
            else
            {
                shortcut = h;
                o = Layers.BatchNormReluConv(p, $"{k}.bn1", $"{k}.conv1", h, ctx, block.Stride, 1);
            }
            h = Layers.BatchNormReluConv(p, $"{k}.bn2", $"{k}.conv2", o, ctx, 1, 1, residual: shortcut, temporary: true);
        }
        // (N, 512·w, h, w) → (N, 512·w)
        return Op.Flatten(Op.AdaptiveAvgPool2d(h, 1, 1));
    }
}
