namespace Circumvent.Method.Attacks;

/// <summary>
/// A backdoor trigger applied to raw images. Implementations are immutable after construction and
/// safe to call from several threads (data loaders apply triggers on worker threads).
/// </summary>
public interface IAttack
{
    /// <summary>badnet or blended.</summary>
    string Name { get; }
    int TargetClass { get; }
    AttackDefinition Definition { get; }

    /// <summary>Stamps the trigger into one image, in place: <paramref name="chw"/> is C·H·W bytes, CHW.</summary>
    /// <exception cref="ArgumentException">The trigger does not fit an image of this shape.</exception>
    void ApplyTrigger(Span<byte> chw, int channels, int height, int width);

    string ToJson() => Definition.ToJson();
}
