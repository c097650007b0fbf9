using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// airnet: the airbench94 network (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024).
/// A 2×2 unpadded conv with bias (2·C·4 = 24 channels for RGB: ± the 12 eigenvectors of the 2×2 patch
/// covariance when started by <see cref="AirNetWhitening"/>) and GELU; three conv groups of
/// [conv 3×3 pad 1 → max-pool 2 → BN → GELU → conv 3×3 pad 1 → BN → GELU], widths 64/256/256 × the width
/// multiplier, bias-free convs; a global max pool; a bias-free linear head whose logits are scaled by 1/9.
/// </summary>
/// <remarks>
/// state_dict names are those of airbench's nn.Sequential, so its checkpoints load as they are:
/// `0` the whitening conv, `2`, `3`, `4` the groups (`conv1`, `norm1`, `conv2`, `norm2`), `7` the head
/// (1 is GELU, 5 the pool, 6 flatten, 8 the scale). Shapes at 32×32: 31 → 15 → 7 → 3, then the global
/// max equals airbench's MaxPool2d(3). BN eps is airbench's 1e-12; its momentum (0.6 in its convention,
/// PyTorch momentum 0.4) belongs to the trainer's running-statistics updater, not to the forward.
/// </remarks>
public sealed class AirNet : ArchitectureBase, IFeatureExtractor
{
    /// <summary>airbench's BatchNorm eps.</summary>
    public const float BatchNormEps = 1e-12f;

    /// <summary>The head's output scale (airbench's scaling_factor).</summary>
    public const float LogitScale = 1f / 9f;

    /// <summary>Kernel size of the whitening conv.</summary>
    public const int WhiteningKernel = 2;

    /// <summary>State_dict prefixes of the whitening conv, the three groups and the head.</summary>
    public const string Whitening = "0";
    public static readonly string[] Groups = ["2", "3", "4"];
    public const string Head = "7";

    private static readonly int[] BaseWidths = [64, 256, 256];

    public AirNet(ArchitectureConfig config) : base(config, Build(config)) { }

    /// <summary>Channels of the whitening conv: each of the C·k² patch directions and its negative.</summary>
    public static int WhiteningWidth(int inChannels) => 2 * inChannels * WhiteningKernel * WhiteningKernel;

    protected override bool FixedInputSize => false;

    private static SpecBuilder Build(ArchitectureConfig c)
    {
        var b = new SpecBuilder();
        int inC = WhiteningWidth(c.InChannels);
        b.DiracConv(Whitening, c.InChannels, inC, WhiteningKernel, bias: true);
        for (int g = 0; g < Groups.Length; g++)
        {
            int width = Layers.Scale(BaseWidths[g], c.WidthMultiplier);
            b.DiracConv($"{Groups[g]}.conv1", inC, width, 3);
            b.BatchNorm($"{Groups[g]}.norm1", width);
            b.DiracConv($"{Groups[g]}.conv2", width, width, 3);
            b.BatchNorm($"{Groups[g]}.norm2", width);
            inC = width;
        }
        b.Linear(Head, inC, c.Classes, bias: false);
        return b;
    }

    /// <summary>The head's prefix: its one tensor is `7.weight` (no bias).</summary>
    public string HeadName => Head;

    // logits = (1/9)·W·features: a positive scale of one linear layer, so the features serve a probe or FP as they
    // would without it (the arg-max and the ranking of head columns do not change).
    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext ctx) => Logits(p, FeaturesCore(p, x, ctx), ctx);

    /// <summary>The scaled head alone (see <see cref="IFeatureExtractor.Logits"/>).</summary>
    public Tensor Logits(ParameterSet p, Tensor features, ForwardContext ctx) =>
        Op.MulScalar(Layers.Linear(p, Head, features, ctx, bias: false), LogitScale);

    protected override Tensor FeaturesCore(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        // (N, C, H, W) → (N, 24, H−1, W−1)
        var h = Op.Gelu(Layers.Conv(p, Whitening, x, ctx, bias: true));
        foreach (var g in Groups)
        {
            h = Op.MaxPool2d(Layers.Conv(p, $"{g}.conv1", h, ctx, padding: 1), 2, 2);
            h = Op.Gelu(Layers.BatchNorm(p, $"{g}.norm1", h, ctx, BatchNormEps));
            h = Op.Gelu(Layers.BatchNorm(p, $"{g}.norm2", Layers.Conv(p, $"{g}.conv2", h, ctx, padding: 1), ctx, BatchNormEps));
        }
        // Global max: (N, C, h, w) → (N, C, h·w) → (N, C).
        int n = h.Shape[0], channels = h.Shape[1];
        return Op.Max(Op.Reshape(h, n, channels, h.Shape[2] * h.Shape[3]), axis: 2);
    }
}
