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
/// A trained StegaStamp encoder/decoder pair (<see cref="StegaStamp"/>) and what it embeds with: images
/// go in as bytes, are scaled to [0, 1] (no normalisation: the networks were trained on [0, 1]), encoded
/// with a bit string and written back rounded to bytes. Saved as one safetensors file (tensors
/// "encoder.*", "decoder.*"; sizes and how it was trained in metadata) that SSBA needs at test time.
/// </summary>
public sealed class SsbaEncoder
{
    /// <summary>Metadata key of the file's <see cref="Layout"/> (JSON).</summary>
    public const string LayoutKey = "circumvent.stegastamp";

    /// <summary>What the file records: the sizes that rebuild the networks, and the training settings (free-form JSON).</summary>
    private sealed record Layout(int Channels, int Side, int Bits, double Width, JsonElement? Training);

    public SsbaEncoder(StegaStamp network, ParameterSet parameters)
    {
        Network = network;
        Parameters = parameters;
    }

    public StegaStamp Network { get; }
    public ParameterSet Parameters { get; }
    public int Bits => Network.Bits;

    /// <summary>The secret SSBA embeds in every image: <see cref="Bits"/> bits drawn from <paramref name="seed"/>.</summary>
    public float[] Secret(int seed)
    {
        var rng = new Random(seed);
        var bits = new float[Bits];
        for (int i = 0; i < bits.Length; i++) bits[i] = rng.Next(2);
        return bits;
    }

    /// <summary>
    /// Encodes the images of <paramref name="set"/> at <paramref name="indices"/> in place, 256 at a time, each
    /// with the bit string <paramref name="secretOf"/>(position in <paramref name="indices"/>) gives: pixels become
    /// round(255·E(x, s)), clipped to 0..255.
    /// </summary>
    public void EncodeInPlace(ImageDataset set, IReadOnlyList<int> indices, Func<int, float[]> secretOf, int batchSize = 256)
    {
        CheckImages(set.Channels, set.Height, set.Width);
        var unit = Normalization.Identity(set.Channels);
        var ordered = indices.ToArray();
        for (int start = 0; start < ordered.Length; start += batchSize)
        {
            int count = Math.Min(batchSize, ordered.Length - start);
            using var scope = TensorScope.Open();
            using var noGrad = GradMode.Disable();
            var images = ImageTensors.ToTensor(set, ordered.AsSpan(start, count), unit);
            var secrets = new float[count * Bits];
            for (int i = 0; i < count; i++) secretOf(start + i).CopyTo(secrets, i * Bits);
            var encoded = Network.Encode(Parameters, images, Tensor.FromArray(secrets, count, Bits), ForwardContext.Eval()).Span;
            for (int i = 0; i < count; i++)
            {
                var pixels = set.Image(ordered[start + i]);
                var values = encoded.Slice(i * set.ImageSize, set.ImageSize);
                for (int k = 0; k < pixels.Length; k++)
                    pixels[k] = (byte)Math.Clamp(MathF.Round(values[k] * 255f, MidpointRounding.AwayFromZero), 0f, 255f);
            }
        }
    }

    /// <summary>The decoder's bits (logit &gt; 0) for the images of <paramref name="set"/> at <paramref name="indices"/>, one array per image.</summary>
    public bool[][] Decode(ImageDataset set, IReadOnlyList<int> indices, int batchSize = 256)
    {
        CheckImages(set.Channels, set.Height, set.Width);
        var unit = Normalization.Identity(set.Channels);
        var ordered = indices.ToArray();
        var result = new bool[ordered.Length][];
        for (int start = 0; start < ordered.Length; start += batchSize)
        {
            int count = Math.Min(batchSize, ordered.Length - start);
            using var scope = TensorScope.Open();
            using var noGrad = GradMode.Disable();
            var logits = Network.Forward(Parameters, ImageTensors.ToTensor(set, ordered.AsSpan(start, count), unit), ForwardContext.Eval()).Span;
            for (int i = 0; i < count; i++)
            {
                var bits = result[start + i] = new bool[Bits];
                for (int b = 0; b < Bits; b++) bits[b] = logits[i * Bits + b] > 0;
            }
        }
        return result;
    }

    public void CheckImages(int channels, int height, int width)
    {
        if (channels != Network.Channels || height != Network.Side || width != Network.Side)
            throw new ArgumentException($"ssba: the encoder was trained on {Network.Channels}×{Network.Side}×{Network.Side} images, got {channels}×{height}×{width}.");
    }

    /// <summary>Writes the pair to <paramref name="path"/> (temp file then rename), with <paramref name="trainingJson"/> (how it was trained) in its metadata.</summary>
    public void Save(string path, string trainingJson)
    {
        var layout = new Layout(Network.Channels, Network.Side, Network.Bits, Network.WidthMultiplier, JsonDocument.Parse(trainingJson).RootElement);
        NetworkBundle.Save(path, [("", Parameters)], new Dictionary<string, string> { [LayoutKey] = JsonSerializer.Serialize(layout, JsonOptions) });
    }

    /// <exception cref="CheckpointException">The file is missing, unreadable or not a StegaStamp encoder.</exception>
    public static SsbaEncoder Load(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException(path, "file not found (the SSBA encoder is written beside the model by training).");
        var content = SafeTensorsReader.Read(path);
        if (!content.Metadata.TryGetValue(LayoutKey, out var text))
            throw new CheckpointException(path, $"no '{LayoutKey}' metadata: not an SSBA encoder file.");
        StegaStamp network;
        try
        {
            var layout = JsonSerializer.Deserialize<Layout>(text, JsonOptions) ?? throw new JsonException("null");
            network = new StegaStamp(layout.Channels, layout.Side, layout.Bits, layout.Width);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new CheckpointException(path, $"metadata '{LayoutKey}' is not valid: {e.Message}", inner: e);
        }
        return new SsbaEncoder(network, NetworkBundle.Load(path, content, "", network.Tensors, "StegaStamp encoder/decoder"));
    }

    /// <summary>Where training writes the encoder of a model at <paramref name="modelPath"/>: "NAME.ssba-encoder.safetensors" beside it.</summary>
    public static string PathBeside(string modelPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath) + ".ssba-encoder.safetensors");

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
