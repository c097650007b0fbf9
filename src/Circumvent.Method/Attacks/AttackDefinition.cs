using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Circumvent.Method.Attacks;

/// <summary>
/// A backdoor attack as data: what the trigger is and which class it points to. Stored as JSON in
/// checkpoint metadata ("circumvent.attack") so a backdoored model carries its own ASR test.
/// All-to-one: every poisoned sample is relabelled to <see cref="Target"/>.
/// </summary>
public sealed record AttackDefinition
{
    public const string BadNetKind = "badnet";
    public const string BlendedKind = "blended";
    public static IReadOnlyList<string> Kinds { get; } = [BadNetKind, BlendedKind];

    /// <summary>badnet or blended.</summary>
    public string Kind { get; init; } = BadNetKind;
    /// <summary>The class every triggered image should be classified as.</summary>
    public int Target { get; init; }
    /// <summary>Share of the whole training set that is poisoned (drawn from the non-target samples), in (0, 1).</summary>
    public double PoisonRate { get; init; } = 0.05;

    /// <summary>BadNet: side of the square patch in pixels (ignored when <see cref="TriggerImage"/> gives the patch).</summary>
    public int PatchSize { get; init; } = 3;
    /// <summary>BadNet: top row of the patch; null = flush with the bottom edge (rows H−size..H−1).</summary>
    public int? PatchRow { get; init; }
    /// <summary>BadNet: left column of the patch; null = flush with the right edge (cols W−size..W−1).</summary>
    public int? PatchColumn { get; init; }
    /// <summary>BadNet: the value written into every channel of the square patch (255 = white).</summary>
    public int PatchColour { get; init; } = 255;

    /// <summary>
    /// BadNet: optional image pasted as the patch at its own size; Blended: the image blended into
    /// every input (required). A PPM/PGM or .npy file, stored as a full path.
    /// </summary>
    public string? TriggerImage { get; init; }
    /// <summary>Blended: weight of the trigger image, x' = (1−α)·x + α·k.</summary>
    public double Alpha { get; init; } = 0.2;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field (by its CLI option).</summary>
    public void Validate()
    {
        if (!Kinds.Contains(Kind))
            throw new ArgumentException($"--attack must be one of {string.Join(", ", Kinds)}, got '{Kind}'.");
        if (Target < 0)
            throw new ArgumentException($"--target must be a class index ≥ 0, got {Target}.");
        if (!(PoisonRate > 0 && PoisonRate < 1))
            throw new ArgumentException($"--poison-rate must be in (0, 1), got {PoisonRate.ToString(CultureInfo.InvariantCulture)}.");
        if (Kind == BadNetKind)
        {
            if (PatchSize < 1) throw new ArgumentException($"--patch-size must be at least 1, got {PatchSize}.");
            if (PatchRow < 0 || PatchColumn < 0)
                throw new ArgumentException($"The patch position must be ≥ 0, got row {PatchRow}, column {PatchColumn}.");
            if (PatchColour is < 0 or > 255) throw new ArgumentException($"The patch colour must be in 0..255, got {PatchColour}.");
        }
        else
        {
            if (string.IsNullOrEmpty(TriggerImage))
                throw new ArgumentException("The blended attack needs --trigger-image PATH (a PPM/PGM or .npy image).");
            if (!(Alpha > 0 && Alpha <= 1))
                throw new ArgumentException($"--alpha must be in (0, 1], got {Alpha.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates; throws <see cref="ArgumentException"/> for malformed JSON or bad values.</summary>
    public static AttackDefinition FromJson(string json)
    {
        AttackDefinition? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<AttackDefinition>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"Attack definition is not valid JSON: {e.Message}", e);
        }
        if (parsed is null) throw new ArgumentException("Attack definition JSON is null.");
        parsed.Validate();
        return parsed;
    }
}
