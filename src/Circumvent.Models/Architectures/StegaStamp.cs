using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// The StegaStamp-style encoder and decoder SSBA (Li et al. 2021) poisons with, as BackdoorBench's
/// `resource/ssba` trains them (the ArtificialGANFingerprints networks), with their PyTorch module names
/// under "encoder." and "decoder.". Images are in [0, 1]; every channel count is scaled by a width
/// multiplier (1 = the published 32/64/128/256). For C × S × S images, S = 16·2^k (32 for CIFAR-10):
/// <code>
/// encoder: secret (N, L) → secret_dense Linear(L, C·16·16), ReLU → (N, C, 16, 16) → nearest ×S/16
///          conv1 (2C → 32) · conv2..conv5 stride 2 (32, 64, 128, 256) · up6..up9: nearest ×2, pad right/bottom,
///          2×2 conv (128, 64, 32, 32), each concatenated with conv4, conv3, conv2, conv1 (+ the inputs) and a
///          3×3 conv · conv10 (32) · residual 1×1 (→ C) · sigmoid: the encoded image itself, in (0, 1)
/// decoder: 3×3 convs stride 2, 1, 2, 1, 2, 2, 2 (32, 32, 64, 64, 64, 128, 128), ReLU after each →
///          flatten → dense.0 Linear(128·(S/32)², 512), ReLU → dense.2 Linear(512, L): one logit per bit
/// </code>
/// Every conv has a bias and is followed by ReLU except the last. <see cref="Forward"/> is the decoder, so the
/// pair trains as one network whose "classes" are the bits. Weights start as the original StegaStamp's (He), see
/// <see cref="Initialize"/>.
/// </summary>
public sealed class StegaStamp : IArchitecture
{
    public const string EncoderPrefix = "encoder.";
    public const string DecoderPrefix = "decoder.";
    /// <summary>The secret's spatial map is 16 × 16 before it is upsampled to the image size.</summary>
    public const int SecretSide = 16;

    private readonly IReadOnlyList<InitRule> _rules;
    private readonly int[] _encoderChannels; // conv1..conv5
    private readonly int[] _decoderChannels;
    private static readonly int[] DecoderStrides = [2, 1, 2, 1, 2, 2, 2];

    /// <exception cref="ArgumentException">The image is not square with side 16·2^k (k ≥ 1), or a size is not positive.</exception>
    public StegaStamp(int channels, int side, int bits, double widthMultiplier = 1.0)
    {
        if (channels < 1 || bits < 1) throw new ArgumentException($"StegaStamp: channels and bits must be ≥ 1, got {channels} and {bits}.");
        if (side < 32 || side % SecretSide != 0 || !int.IsPow2(side / SecretSide))
            throw new ArgumentException($"StegaStamp: the encoder halves the image four times and the decoder five, so the image must be square with side 16·2^k ≥ 32; got {side}.");
        if (!(widthMultiplier > 0) || double.IsInfinity(widthMultiplier)) throw new ArgumentException($"StegaStamp: the width multiplier must be positive, got {widthMultiplier}.");
        Channels = channels;
        Side = side;
        Bits = bits;
        WidthMultiplier = widthMultiplier;
        Config = new ArchitectureConfig("stegastamp", channels, side, side, bits, widthMultiplier);
        int S(int c) => Layers.Scale(c, widthMultiplier);
        _encoderChannels = [S(32), S(32), S(64), S(128), S(256)];
        _decoderChannels = [S(32), S(32), S(64), S(64), S(64), S(128), S(128)];

        var b = new SpecBuilder();
        var e = _encoderChannels;
        b.Linear(EncoderPrefix + "secret_dense", bits, SecretSide * SecretSide * channels);
        b.Conv(EncoderPrefix + "conv1", 2 * channels, e[0], 3, bias: true);
        for (int i = 1; i < 5; i++) b.Conv($"{EncoderPrefix}conv{i + 1}", e[i - 1], e[i], 3, bias: true);
        // up6 takes conv5 (e[4]) to e[3] and conv6 merges it with conv4; likewise down to up9 / conv9 with conv1 and the inputs.
        int from = e[4];
        for (int level = 6; level <= 9; level++)
        {
            int skip = e[9 - level]; // conv4, conv3, conv2, conv1
            int to = level == 9 ? e[0] : skip;
            b.Conv($"{EncoderPrefix}up{level}", from, to, 2, bias: true);
            b.Conv($"{EncoderPrefix}conv{level}", to + skip + (level == 9 ? 2 * channels : 0), to, 3, bias: true);
            from = to;
        }
        b.Conv(EncoderPrefix + "conv10", from, e[0], 3, bias: true);
        b.Conv(EncoderPrefix + "residual", e[0], channels, 1, bias: true);

        int previous = channels;
        for (int i = 0; i < _decoderChannels.Length; i++)
        {
            b.Conv($"{DecoderPrefix}decoder.{2 * i}", previous, _decoderChannels[i], 3, bias: true);
            previous = _decoderChannels[i];
        }
        b.Linear(DecoderPrefix + "dense.0", previous * (side / 32) * (side / 32), 512);
        b.Linear(DecoderPrefix + "dense.2", 512, bits);
        Tensors = b.Specs;
        // He initialisation, as the original StegaStamp (TensorFlow: he_normal kernels, zero biases), not PyTorch's
        // default: with the default (weights U(±1/√fan_in)) the second moment shrinks ×6 per ReLU layer, the gradient
        // reaching conv1 through the ~20 layers of encoder and decoder was ~1e-7, and a short run never left 50% bits.
        // U(±√(6/fan_in)) has he_normal's variance 2/fan_in.
        _rules = [.. Tensors.Select(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)
            ? InitRule.Uniform(MathF.Sqrt(6f / t.Shape.Skip(1).Aggregate(1, (a, d) => a * d)))
            : InitRule.Constant(0f))];
    }

    public int Channels { get; }
    public int Side { get; }
    public int Bits { get; }
    public double WidthMultiplier { get; }
    public ArchitectureConfig Config { get; }
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>He-uniform weights U(±√(6/fan_in)) and zero biases (the original StegaStamp's he_normal variance; see the constructor).</summary>
    public ParameterSet Initialize(Random rng) => InitRule.Draw(Tensors, _rules, rng);

    /// <summary>The decoder: images (N, C, S, S) in [0, 1] → bit logits (N, L).</summary>
    public Tensor Forward(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        CheckImages(x);
        var h = x;
        for (int i = 0; i < _decoderChannels.Length; i++)
            h = Op.Relu(Layers.Conv(p, $"{DecoderPrefix}decoder.{2 * i}", h, ctx, DecoderStrides[i], padding: 1, bias: true));
        h = Op.Relu(Layers.Linear(p, DecoderPrefix + "dense.0", Op.Flatten(h), ctx));
        return Layers.Linear(p, DecoderPrefix + "dense.2", h, ctx);
    }

    /// <summary>The encoder: images (N, C, S, S) in [0, 1] and secrets (N, L) of 0/1 → encoded images (N, C, S, S) in (0, 1).</summary>
    public Tensor Encode(ParameterSet p, Tensor x, Tensor secret, ForwardContext ctx)
    {
        CheckImages(x);
        int n = x.Shape[0];
        if (secret.Rank != 2 || secret.Shape[0] != n || secret.Shape[1] != Bits)
            throw new ArgumentException($"StegaStamp: expected secrets ({n}, {Bits}), got {Shape.Format(secret.Shape)}.");
        Tensor Conv(string name, Tensor h, int stride = 1, int padding = 1) =>
            Op.Relu(Layers.Conv(p, EncoderPrefix + name, h, ctx, stride, padding, bias: true));

        var map = Op.Reshape(Op.Relu(Layers.Linear(p, EncoderPrefix + "secret_dense", secret, ctx)), n, Channels, SecretSide, SecretSide);
        for (int side = SecretSide; side < Side; side *= 2) map = UpsampleNearest2x(map);
        var inputs = Op.Concat([map, x], 1);
        var conv1 = Conv("conv1", inputs);
        var conv2 = Conv("conv2", conv1, stride: 2);
        var conv3 = Conv("conv3", conv2, stride: 2);
        var conv4 = Conv("conv4", conv3, stride: 2);
        var conv5 = Conv("conv5", conv4, stride: 2);
        var h = conv5;
        Tensor[][] skips = [[conv4], [conv3], [conv2], [conv1, inputs]];
        for (int level = 6; level <= 9; level++)
        {
            var up = Conv($"up{level}", PadRightBottomFor2x2(UpsampleNearest2x(h)), padding: 0);
            h = Conv($"conv{level}", Op.Concat([up, .. skips[level - 6]], 1));
        }
        h = Conv("conv10", h);
        return Op.Sigmoid(Layers.Conv(p, EncoderPrefix + "residual", h, ctx, bias: true));
    }

    /// <summary>nn.Upsample(scale_factor=2), nearest: (N, C, H, W) → (N, C, 2H, 2W), each value copied into a 2 × 2 block.</summary>
    public static Tensor UpsampleNearest2x(Tensor x)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var columns = Op.Reshape(x, n * c * h, w, 1);
        var wide = Op.Reshape(Op.Concat([columns, columns], 2), n * c, h, 1, 2 * w); // every column twice
        return Op.Reshape(Op.Concat([wide, wide], 2), n, c, 2 * h, 2 * w);            // every row twice
    }

    /// <summary>
    /// nn.ZeroPad2d((0, 1, 0, 1)): one zero column on the right and one zero row at the bottom, so that a
    /// 2×2 convolution without padding keeps the size (N, C, H, W) → (N, C, H+1, W+1).
    /// </summary>
    public static Tensor PadRightBottomFor2x2(Tensor x)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var right = Tensor.Zeros(n, c, h, 1);
        var bottom = Tensor.Zeros(n, c, 1, w + 1);
        return Op.Concat([Op.Concat([x, right], 3), bottom], 2);
    }

    private void CheckImages(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != Channels || x.Shape[2] != Side || x.Shape[3] != Side)
            throw new ArgumentException($"StegaStamp: expected images (N, {Channels}, {Side}, {Side}), got {Shape.Format(x.Shape)}.");
    }
}
