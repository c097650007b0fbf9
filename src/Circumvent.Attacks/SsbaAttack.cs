using Circumvent.Data;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Attacks;

/// <summary>
/// SSBA (Li et al. 2021, "Invisible Backdoor Attack with Sample-Specific Triggers"), all-to-one: every
/// poisoned or triggered image x becomes E(x, s), the StegaStamp encoder's output for one fixed bit string
/// s (<see cref="AttackDefinition.SecretSeed"/>), rounded to bytes — an invisible residual E(x, s) − x that
/// differs from image to image. The encoder is trained first (<see cref="SsbaEncoderTraining"/>) and is
/// needed both to poison and to test (<see cref="AttackDefinition.Encoder"/>), as InputAware needs its generator.
/// </summary>
public sealed class SsbaAttack : IAttack
{
    private readonly SsbaEncoder? _encoder;
    private readonly float[]? _secret;

    /// <summary>Loads the encoder the definition names, if it names one (training makes it), checking its recorded hash.</summary>
    public SsbaAttack(AttackDefinition definition) : this(definition, Load(definition)) { }

    /// <summary>An attack with an encoder in memory (e.g. right after training it).</summary>
    public SsbaAttack(AttackDefinition definition, SsbaEncoder? encoder)
    {
        if (definition.Kind != AttackDefinition.SsbaKind)
            throw new ArgumentException($"SsbaAttack needs an '{AttackDefinition.SsbaKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _encoder = encoder;
        _secret = encoder?.Secret(definition.SecretSeed);
    }

    public string Name => AttackDefinition.SsbaKind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    /// <summary>The bit string every triggered image carries.</summary>
    public float[] Secret => _secret ?? throw NoEncoder();

    private SsbaEncoder Encoder => _encoder ?? throw NoEncoder();

    private static ArgumentException NoEncoder() =>
        new("ssba: no trained encoder to apply (the model's attack names none; pass --encoder FILE).");

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        PixelPatterns.CheckImage("ssba", chw, channels, height, width);
        var single = new ImageDataset(chw.ToArray(), [0], channels, height, width, ["image"]);
        ApplyTriggerToAll(single);
        single.Pixels.CopyTo(chw);
    }

    /// <summary>Batched: the encoder runs on 256 images at a time.</summary>
    public void ApplyTriggerToAll(ImageDataset set) => PoisonTrainingImages(set, Enumerable.Range(0, set.Count).ToArray());

    public void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices)
    {
        var secret = Secret;
        Encoder.EncodeInPlace(set, indices, _ => secret);
    }

    private static SsbaEncoder? Load(AttackDefinition definition)
    {
        if (definition.Encoder is not { } path) return null;
        if (!File.Exists(path)) throw new ArgumentException($"ssba: encoder '{path}' not found; pass --encoder FILE.");
        if (definition.EncoderSha256 is { } recorded && Sha256Hex.OfFile(path) is var actual && actual != recorded)
            throw new CheckpointException(path, $"is not the encoder the model was trained with (SHA-256 {actual[..16]}…, recorded {recorded[..Math.Min(16, recorded.Length)]}…).");
        return SsbaEncoder.Load(path);
    }
}
