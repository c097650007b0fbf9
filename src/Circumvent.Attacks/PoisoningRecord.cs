using System.Text.Json;

namespace Circumvent.Attacks;

/// <summary>
/// What was poisoned, as stored in a backdoored checkpoint's metadata ("circumvent.poisoning"):
/// indices into the dataset's training split (also when only a --limit-train subset was used), ascending.
/// </summary>
public sealed record PoisoningRecord
{
    /// <summary>The seed the poisoned (and noise) samples were drawn with.</summary>
    public int Seed { get; init; }
    /// <summary>Samples that carry the trigger (relabelled to the target unless the attack is clean-label).</summary>
    public int[] Poisoned { get; init; } = [];
    /// <summary>WaNet noise mode: samples with a jittered trigger and their true label.</summary>
    public int[] Noise { get; init; } = [];
    /// <summary>How many training samples were used (the whole split, or the --limit-train subset).</summary>
    public int TrainingSamples { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <param name="sourceIndices">Training-split index of every sample of the poisoned set, or null when it is the whole split.</param>
    public static string ToJson(PoisonedTrainingSet poisoning, int[]? sourceIndices, int seed)
    {
        int[] Map(int[] indices) => sourceIndices is null ? indices : Array.ConvertAll(indices, i => sourceIndices[i]);
        var record = new PoisoningRecord
        {
            Seed = seed,
            Poisoned = Map(poisoning.PoisonedIndices),
            Noise = Map(poisoning.NoiseIndices),
            TrainingSamples = poisoning.Data.Count,
        };
        return JsonSerializer.Serialize(record, JsonOptions);
    }

    /// <exception cref="ArgumentException">Not a poisoning record.</exception>
    public static PoisoningRecord FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<PoisoningRecord>(json, JsonOptions)
                ?? throw new ArgumentException("Poisoning record JSON is null.");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"Poisoning record is not valid JSON: {e.Message}", e);
        }
    }
}
