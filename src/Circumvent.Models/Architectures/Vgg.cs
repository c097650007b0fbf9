using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// VGG with batch norm, CIFAR style (kuangliu/pytorch-cifar): `features` is one nn.Sequential of
/// [Conv2d 3×3 pad 1 with bias, BatchNorm2d, ReLU] per channel count and MaxPool2d(2, 2) per 'M', so a
/// conv sits at Sequential index i, its BN at i + 1, ReLU at i + 2, and a pool takes one index. Then a
/// global average pool to 1×1, flatten and `classifier` = Linear(512·w, classes).
/// </summary>
public sealed class Vgg : ArchitectureBase, IFeatureExtractor
{
    private const int Pool = 0;

    private static readonly Dictionary<string, int[]> Configurations = new()
    {
        ["vgg11"] = [64, Pool, 128, Pool, 256, 256, Pool, 512, 512, Pool, 512, 512, Pool],
        ["vgg16"] = [64, 64, Pool, 128, 128, Pool, 256, 256, 256, Pool, 512, 512, 512, Pool, 512, 512, 512, Pool],
        ["vgg19"] = [64, 64, Pool, 128, 128, Pool, 256, 256, 256, 256, Pool, 512, 512, 512, 512, Pool, 512, 512, 512, 512, Pool],
    };

    private readonly int[] _layers;

    public Vgg(ArchitectureConfig config) : base(config, Build(config, out var layers)) => _layers = layers;

    public static IEnumerable<string> Variants => Configurations.Keys;

    protected override bool FixedInputSize => false;

    private static SpecBuilder Build(ArchitectureConfig c, out int[] layers)
    {
        layers = [.. Configurations[c.Name].Select(v => v == Pool ? Pool : Layers.Scale(v, c.WidthMultiplier))];
        var b = new SpecBuilder();
        int inC = c.InChannels, index = 0;
        foreach (var outC in layers)
        {
            if (outC == Pool) { index += 1; continue; }
            b.Conv($"features.{index}", inC, outC, 3, bias: true);
            b.BatchNorm($"features.{index + 1}", outC);
            index += 3;
            inC = outC;
        }
        b.Linear("classifier", inC, c.Classes);
        return b;
    }

    public string HeadName => "classifier";

    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext ctx) =>
        Layers.Linear(p, HeadName, FeaturesCore(p, x, ctx), ctx);

    protected override Tensor FeaturesCore(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        var h = x;
        int index = 0;
        foreach (var outC in _layers)
        {
            if (outC == Pool)
            {
                h = Op.MaxPool2d(h, 2, 2);
                index += 1;
                continue;
            }
            h = Layers.ConvBnRelu(p, $"features.{index}", $"features.{index + 1}", h, ctx, convBias: true);
            index += 3;
        }
        // (N, 512·w, h, w) → (N, 512·w, 1, 1) → (N, 512·w)
        return Op.Flatten(Op.AdaptiveAvgPool2d(h, 1, 1));
    }
}
