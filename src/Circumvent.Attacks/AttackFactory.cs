namespace Circumvent.Attacks;

/// <summary>Builds the <see cref="IAttack"/> an <see cref="AttackDefinition"/> describes.</summary>
public static class AttackFactory
{
    /// <summary>
    /// Validates <paramref name="definition"/> and loads its trigger image, if any, so a missing or
    /// malformed file fails here rather than in the middle of training.
    /// </summary>
    public static IAttack Create(AttackDefinition definition)
    {
        definition.Validate();
        return definition.Kind switch
        {
            AttackDefinition.BadNetKind => new BadNetAttack(definition),
            AttackDefinition.BlendedKind => new BlendedAttack(definition),
            AttackDefinition.SigKind => new SigAttack(definition),
            AttackDefinition.LfKind => new LfAttack(definition),
            AttackDefinition.WaNetKind => new WaNetAttack(definition),
            AttackDefinition.LcKind => new LcAttack(definition),
            AttackDefinition.InputAwareKind => new InputAwareAttack(definition),
            AttackDefinition.NarcissusKind => new NarcissusAttack(definition),
            AttackDefinition.SsbaKind => new SsbaAttack(definition),
            AttackDefinition.SapaKind => new Sapa.SapaAttack(definition),
            _ => throw new ArgumentException($"Unknown attack kind '{definition.Kind}'."),
        };
    }

    public static IAttack FromJson(string json) => Create(AttackDefinition.FromJson(json));
}
