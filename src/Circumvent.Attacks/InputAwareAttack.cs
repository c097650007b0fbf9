using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// InputAware (Nguyen &amp; Tran 2020), all-to-one: a training-manipulation attack. Its trigger is
/// computed per image by two networks trained with the classifier (<see cref="InputAwareTraining"/>):
/// x' = x + m(x) ⊙ (g(x) − x) in the classifier's normalised input space, rounded back to bytes. The
/// test-time trigger needs the trained networks (<see cref="AttackDefinition.Generators"/>); nothing is
/// poisoned before training.
/// </summary>
public sealed class InputAwareAttack : IAttack
{
    private readonly InputAwareNetworks? _networks;

    /// <summary>Loads the trained networks the definition names, if it names any (training makes them).</summary>
    public InputAwareAttack(AttackDefinition definition)
        : this(definition, definition.Generators is { } path ? InputAwareNetworks.Load(path) : null) { }

    /// <summary>An attack on networks in memory (e.g. right after training).</summary>
    public InputAwareAttack(AttackDefinition definition, InputAwareNetworks? networks)
    {
        if (definition.Kind != AttackDefinition.InputAwareKind)
            throw new ArgumentException($"InputAwareAttack needs a '{AttackDefinition.InputAwareKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _networks = networks;
    }

    public string Name => AttackDefinition.InputAwareKind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    private InputAwareNetworks Networks => _networks
        ?? throw new ArgumentException("input-aware: no trained trigger networks to apply (the model's attack names none; pass --generators FILE).");

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        PixelPatterns.CheckImage("input-aware", chw, channels, height, width);
        var single = new ImageDataset(chw.ToArray(), [0], channels, height, width, ["image"]);
        ApplyTriggerToAll(single);
        single.Pixels.CopyTo(chw);
    }

    /// <summary>Batched: both networks run on 256 images at a time.</summary>
    public void ApplyTriggerToAll(ImageDataset set) => Networks.ApplyTo(set);

    /// <summary>Nothing is poisoned ahead of training: the poisoned share of every batch is made during training.</summary>
    public void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices) =>
        throw new InvalidOperationException("input-aware poisons during training (InputAwareTraining), not ahead of it.");
}
