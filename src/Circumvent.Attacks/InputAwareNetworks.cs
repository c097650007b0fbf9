using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Attacks;

/// <summary>
/// InputAware's two networks for C × H × W images: the trigger generator G (C output channels) and
/// the mask network M (one channel), both <see cref="TriggerGenerator"/>s, and the normalisation of
/// the classifier's inputs they work in. Saved as one safetensors file (tensors "generator.*" and
/// "mask.*", the sizes and normalisation in metadata) beside the backdoored model.
/// </summary>
public sealed class InputAwareNetworks
{
    public const string GeneratorPrefix = "generator.";
    public const string MaskPrefix = "mask.";
    /// <summary>Metadata key of <see cref="Layout"/> (JSON).</summary>
    public const string LayoutKey = "circumvent.input_aware";
    /// <summary>The authors' BN momentum for both networks (Conv2dBlock: momentum 0.05).</summary>
    public const float BatchNormMomentum = 0.05f;

    /// <summary>What the file's metadata records to rebuild the networks.</summary>
    private sealed record Layout(int Channels, int Height, int Width, int Steps, int BaseChannels, float[] Mean, float[] Std);

    private InputAwareNetworks(TriggerGenerator generatorNet, TriggerGenerator maskNet, ParameterSet generator, ParameterSet mask,
        Normalization normalization, int height, int width)
    {
        GeneratorNet = generatorNet;
        MaskNet = maskNet;
        Generator = generator;
        Mask = mask;
        Normalization = normalization;
        Height = height;
        Width = width;
    }

    public TriggerGenerator GeneratorNet { get; }
    public TriggerGenerator MaskNet { get; }
    public ParameterSet Generator { get; }
    public ParameterSet Mask { get; }
    public Normalization Normalization { get; }
    public int Channels => GeneratorNet.InChannels;
    public int Height { get; }
    public int Width { get; }

    /// <summary>Freshly initialised networks (PyTorch defaults) for C × H × W images, drawn from <paramref name="rng"/> (G first).</summary>
    public static InputAwareNetworks Create(int channels, int height, int width, Normalization normalization, Random rng)
    {
        if (normalization.Channels != channels)
            throw new ArgumentException($"input-aware: the normalisation has {normalization.Channels} channels, the images {channels}.");
        var g = TriggerGenerator.ForImages(channels, height, width, channels);
        var m = new TriggerGenerator(channels, 1, g.Steps, g.BaseChannels);
        return new InputAwareNetworks(g, m, g.Initialize(rng), m.Initialize(rng), normalization, height, width);
    }

    /// <summary>G's pattern for normalised inputs (N, C, H, W), in the same normalised space.</summary>
    public Tensor Patterns(Tensor x, ForwardContext ctx) =>
        InputAwareTrigger.Normalize(InputAwareTrigger.Squash(GeneratorNet.Forward(Generator, x, ctx)), Normalization);

    /// <summary>M's thresholded mask (N, 1, H, W) in (0, 1) for normalised inputs.</summary>
    public Tensor Masks(Tensor x, ForwardContext ctx) =>
        InputAwareTrigger.Threshold(InputAwareTrigger.Squash(MaskNet.Forward(Mask, x, ctx)));

    /// <summary>x + m(x) ⊙ (g(x) − x) for normalised inputs, both networks in eval mode, without a graph.</summary>
    public Tensor Triggered(Tensor x)
    {
        using var noGrad = GradMode.Disable();
        var ctx = ForwardContext.Eval();
        return InputAwareTrigger.Blend(x, Patterns(x, ctx), Masks(x, ctx));
    }

    /// <summary>Stamps each image's own trigger into <paramref name="set"/>, in place, batch by batch (pixels rounded to bytes).</summary>
    public void ApplyTo(ImageDataset set, int batchSize = 256)
    {
        CheckImages(set.Channels, set.Height, set.Width);
        var order = Enumerable.Range(0, set.Count).ToArray();
        for (int start = 0; start < set.Count; start += batchSize)
        {
            int count = Math.Min(batchSize, set.Count - start);
            using var scope = TensorScope.Open();
            var triggered = Triggered(ImageTensors.ToTensor(set, order.AsSpan(start, count), Normalization));
            ToBytes(triggered.Span, set.Pixels.AsSpan(start * set.ImageSize, count * set.ImageSize), set.Channels, set.Height * set.Width);
        }
    }

    /// <summary>Normalised CHW values back to bytes: v·std + mean on [0, 1], ×255, rounded and clipped to 0..255.</summary>
    public void ToBytes(ReadOnlySpan<float> normalised, Span<byte> pixels, int channels, int plane)
    {
        for (int i = 0; i < pixels.Length; i++)
        {
            int c = i / plane % channels;
            float unit = normalised[i] * Normalization.Std[c] + Normalization.Mean[c];
            pixels[i] = (byte)Math.Clamp(MathF.Round(unit * 255f, MidpointRounding.AwayFromZero), 0f, 255f);
        }
    }

    public void CheckImages(int channels, int height, int width)
    {
        if (channels != Channels || height != Height || width != Width)
            throw new ArgumentException($"input-aware: the trigger networks were trained on {Channels}×{Height}×{Width} images, got {channels}×{height}×{width}.");
    }

    /// <summary>Writes both networks to <paramref name="path"/> (safetensors, temp file then rename).</summary>
    public void Save(string path)
    {
        var layout = new Layout(Channels, Height, Width, GeneratorNet.Steps, GeneratorNet.BaseChannels, Normalization.Mean, Normalization.Std);
        NetworkBundle.Save(path, [(GeneratorPrefix, Generator), (MaskPrefix, Mask)],
            new Dictionary<string, string> { [LayoutKey] = JsonSerializer.Serialize(layout, JsonOptions) });
    }

    /// <exception cref="CheckpointException">The file is missing, unreadable or not a pair of InputAware networks.</exception>
    public static InputAwareNetworks Load(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException(path, "file not found (the input-aware trigger networks are written beside the model by training).");
        var content = SafeTensorsReader.Read(path);
        if (!content.Metadata.TryGetValue(LayoutKey, out var text))
            throw new CheckpointException(path, $"no '{LayoutKey}' metadata: not an input-aware generator file.");
        Layout layout;
        try
        {
            layout = JsonSerializer.Deserialize<Layout>(text, JsonOptions) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"metadata '{LayoutKey}' is not valid: {e.Message}", inner: e);
        }
        TriggerGenerator g, m;
        Normalization normalization;
        try
        {
            g = new TriggerGenerator(layout.Channels, layout.Channels, layout.Steps, layout.BaseChannels);
            m = new TriggerGenerator(layout.Channels, 1, layout.Steps, layout.BaseChannels);
            if (layout.Height % g.SizeMultiple != 0 || layout.Width % g.SizeMultiple != 0)
                throw new ArgumentException($"image size {layout.Height}×{layout.Width} is not a multiple of {g.SizeMultiple}.");
            normalization = new Normalization(layout.Mean ?? [], layout.Std ?? []);
            if (normalization.Channels != layout.Channels)
                throw new ArgumentException($"normalisation has {normalization.Channels} channels for {layout.Channels}-channel images.");
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException(path, $"metadata '{LayoutKey}' is not valid: {e.Message}", inner: e);
        }
        var generator = NetworkBundle.Load(path, content, GeneratorPrefix, g.Tensors, "trigger generator");
        var mask = NetworkBundle.Load(path, content, MaskPrefix, m.Tensors, "mask network");
        return new InputAwareNetworks(g, m, generator, mask, normalization, layout.Height, layout.Width);
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
