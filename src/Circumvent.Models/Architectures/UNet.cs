using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// The image-to-image U-Net BTI-DBF learns its synthetic backdoor images with (Xu et al., ICLR 2024; the authors' UNet with
/// n_channels = num_classes = C, base_filter_num 32, num_blocks 4, max pooling, transposed-convolution upsampling, no
/// dropout). It maps a normalised image to a normalised image of the same size; nothing bounds its output.
/// <code>
/// down i (i &lt; B):  block(→ w_i) · maxpool 2            w_i = min(2^i·width, 512)
/// bottleneck:      block(w_{B−1} → 2·w_{B−1})
/// up i (i &lt; B):    LeakyReLU(ConvTranspose 3×3, stride 2, padding 1, output padding 1; keeps its channels) · concat
///                  with down B−1−i's output · block(→ w_{B−1−i})
/// output:          1×1 conv → C
/// block:           (3×3 conv, padding 1 · InstanceNorm(affine) · LeakyReLU 0.01) × 2
/// </code>
/// The transposed convolution is computed as what it equals: a 3×3 convolution (padding 1) over the input with a zero
/// inserted after every row and column. Its weight is stored in that convolution's layout (out, in, 3, 3) and drawn as
/// PyTorch draws the transposed layer's (bound 1/√(channels·9); in = out here). The side must halve B times to at
/// least 2 (an instance norm of one value is zero).
/// </summary>
public sealed class UNet
{
    public const float LeakySlope = 0.01f;
    /// <summary>nn.InstanceNorm2d's default eps.</summary>
    public const float InstanceNormEps = 1e-5f;
    /// <summary>The authors cap a block's width at 512 filters.</summary>
    public const int MaxFilters = 512;

    private readonly SpecBuilder _specs = new();
    private readonly int[] _depths;

    /// <param name="channels">Image channels, in and out.</param>
    /// <param name="blocks">Encoder (and decoder) blocks B.</param>
    /// <param name="width">Filters of the first block (the authors' base_filter_num, 32).</param>
    public UNet(int channels, int blocks, int width)
    {
        if (channels < 1 || blocks < 1 || width < 1)
            throw new ArgumentException($"U-Net: channels, blocks and width must be ≥ 1, got {channels}, {blocks} and {width}.");
        Channels = channels;
        Blocks = blocks;
        Width = width;
        _depths = [.. Enumerable.Range(0, blocks).Select(i => (int)Math.Min((long)width << Math.Min(i, 30), MaxFilters))];
        int previous = channels;
        for (int i = 0; i < blocks; i++)
        {
            Block($"down{i}", previous, _depths[i]);
            previous = _depths[i];
        }
        int bottom = 2 * _depths[^1];
        Block("bottleneck", _depths[^1], bottom);
        previous = bottom;
        for (int i = 0; i < blocks; i++)
        {
            int skip = _depths[blocks - 1 - i];
            _specs.Conv($"up{i}.upsample", previous, previous, 3, bias: true);
            Block($"up{i}", previous + skip, skip);
            previous = skip;
        }
        _specs.Conv("output", previous, channels, 1, bias: true);
    }

    public int Channels { get; }
    public int Blocks { get; }
    public int Width { get; }
    public IReadOnlyList<TensorSpec> Tensors => _specs.Specs;

    /// <summary>PyTorch's default initialisation (convolutions U(±1/√fan_in), instance norms γ = 1, β = 0), seeded.</summary>
    public ParameterSet Initialize(Random rng) => InitRule.Draw(_specs.Specs, _specs.Rules, rng);

    /// <summary>The most blocks, up to <paramref name="most"/>, that an image side of <paramref name="side"/> halves into (the bottleneck at least 2 × 2); 0 when none.</summary>
    public static int BlocksFor(int side, int most)
    {
        int blocks = 0;
        while (blocks < most && side % (2 << blocks) == 0 && side / (2 << blocks) >= 2) blocks++;
        return blocks;
    }

    /// <summary>x (N, C, H, W) → G(x) (N, C, H, W).</summary>
    public Tensor Forward(ParameterSet p, Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != Channels)
            throw new ArgumentException($"U-Net: expected images (N, {Channels}, H, W), got {Shape.Format(x.Shape)}.");
        int h = x.Shape[2], w = x.Shape[3];
        if (BlocksFor(h, Blocks) < Blocks || BlocksFor(w, Blocks) < Blocks)
            throw new ArgumentException($"U-Net: {Blocks} blocks halve the image {Blocks} times to at least 2 × 2, so its sides must be multiples of {1 << Blocks} and at least {2 << Blocks} (got {h} × {w}).");
        var skips = new Tensor[Blocks];
        var y = x;
        for (int i = 0; i < Blocks; i++)
        {
            skips[i] = ForwardBlock(p, $"down{i}", y);
            y = Op.MaxPool2d(skips[i], 2, 2);
        }
        y = ForwardBlock(p, "bottleneck", y);
        for (int i = 0; i < Blocks; i++)
        {
            var up = LeakyRelu(Op.Conv2d(ZeroInterleave2x(y), p[$"up{i}.upsample.weight"], p[$"up{i}.upsample.bias"], padding: 1));
            y = ForwardBlock(p, $"up{i}", Op.Concat([up, skips[Blocks - 1 - i]], 1));
        }
        return Op.Conv2d(y, p["output.weight"], p["output.bias"]);
    }

    /// <summary>LeakyReLU with slope 0.01: relu(x) − 0.01·relu(−x).</summary>
    public static Tensor LeakyRelu(Tensor x) => Op.Sub(Op.Relu(x), Op.MulScalar(Op.Relu(Op.Neg(x)), LeakySlope));

    /// <summary>
    /// nn.InstanceNorm2d(affine=True) without running statistics: each (image, channel) plane normalised by its own mean and
    /// biased variance, then γ·x̂ + β per channel. Computed as a training-mode batch norm of the planes as channels of one image.
    /// </summary>
    public static Tensor InstanceNorm(Tensor x, Tensor gamma, Tensor beta)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var ones = Tensor.Ones(n * c);
        var zeros = Tensor.Zeros(n * c);
        var planes = Op.BatchNorm(Op.Reshape(x, 1, n * c, h, w), ones, zeros, zeros, ones, training: true, InstanceNormEps, out _);
        return Op.Add(Op.Mul(Op.Reshape(planes, n, c, h, w), Op.Reshape(gamma, 1, c, 1, 1)), Op.Reshape(beta, 1, c, 1, 1));
    }

    /// <summary>(N, C, H, W) → (N, C, 2H, 2W) with x at the even rows and columns and zeros elsewhere.</summary>
    public static Tensor ZeroInterleave2x(Tensor x)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var columns = Op.Reshape(x, n * c * h, w, 1);
        var wide = Op.Reshape(Op.Concat([columns, Tensor.Zeros(n * c * h, w, 1)], 2), n * c, h, 1, 2 * w);
        return Op.Reshape(Op.Concat([wide, Tensor.Zeros(n * c, h, 1, 2 * w)], 2), n, c, 2 * h, 2 * w);
    }

    private void Block(string prefix, int inChannels, int outChannels)
    {
        _specs.Conv(prefix + ".conv1", inChannels, outChannels, 3, bias: true);
        _specs.InstanceNorm(prefix + ".norm1", outChannels);
        _specs.Conv(prefix + ".conv2", outChannels, outChannels, 3, bias: true);
        _specs.InstanceNorm(prefix + ".norm2", outChannels);
    }

    private static Tensor ForwardBlock(ParameterSet p, string prefix, Tensor x)
    {
        Tensor ConvNormAct(string conv, string norm, Tensor h) => LeakyRelu(InstanceNorm(
            Op.Conv2d(h, p[$"{prefix}.{conv}.weight"], p[$"{prefix}.{conv}.bias"], padding: 1), p[$"{prefix}.{norm}.weight"], p[$"{prefix}.{norm}.bias"]));
        return ConvNormAct("conv2", "norm2", ConvNormAct("conv1", "norm1", x));
    }
}
