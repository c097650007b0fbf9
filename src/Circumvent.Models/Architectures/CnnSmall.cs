using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// cnn-small: three stages of bias-free 3×3 pad-1 convolutions, each followed by BN and ReLU —
/// [conv1 32, conv2 32] [conv3 64, conv4 64] [conv5 128] channels × width — with a 2×2 max pool after
/// each stage, then `fc` over the flattened (128·w, H/8, W/8) map (2048 features at 32×32).
/// </summary>
public sealed class CnnSmall : ArchitectureBase, IFeatureExtractor
{
    public CnnSmall(ArchitectureConfig config) : base(config, Build(config)) { }

    protected override bool FixedInputSize => true;

    private static int[] Channels(ArchitectureConfig c) =>
        [.. new[] { 32, 32, 64, 64, 128 }.Select(ch => Layers.Scale(ch, c.WidthMultiplier))];

    private static SpecBuilder Build(ArchitectureConfig c)
    {
        var ch = Channels(c);
        var b = new SpecBuilder();
        int inC = c.InChannels;
        for (int i = 0; i < ch.Length; i++)
        {
            b.Conv($"conv{i + 1}", inC, ch[i], 3, bias: false);
            b.BatchNorm($"bn{i + 1}", ch[i]);
            inC = ch[i];
        }
        b.Linear("fc", inC * (c.Height / 8) * (c.Width / 8), c.Classes);
        return b;
    }

    public string HeadName => "fc";

    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext ctx) =>
        Layers.Linear(p, HeadName, FeaturesCore(p, x, ctx), ctx);

    protected override Tensor FeaturesCore(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        var h = Block(p, 1, x, ctx);
        h = Op.MaxPool2d(Block(p, 2, h, ctx), 2, 2);
        h = Block(p, 3, h, ctx);
        h = Op.MaxPool2d(Block(p, 4, h, ctx), 2, 2);
        h = Op.MaxPool2d(Block(p, 5, h, ctx), 2, 2);
        return Op.Flatten(h);
    }

    private static Tensor Block(ParameterSet p, int i, Tensor x, ForwardContext ctx) =>
        Layers.ConvBnRelu(p, $"conv{i}", $"bn{i}", x, ctx);
}
