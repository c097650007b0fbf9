using Circumvent.Data;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// How a model's input pixels are normalised before its first layer, and where that came from. It is part
/// of the model: the same weights score 98% or 20% depending on it, so every score line shows it
/// (<see cref="ToString"/>) and every checkpoint written here records it.
/// </summary>
public sealed record InputPreprocessing(Normalization Normalization, string Source)
{
    public const string FromOption = "--normalize";
    public const string FromModel = "recorded in the model";
    public const string FromDescription = "from its description";

    /// <summary>"inputs mean 0.5 std 0.5 (--normalize)".</summary>
    public override string ToString() => $"inputs {Normalization.Describe()} ({Source})";

    /// <summary>
    /// --normalize (<paramref name="given"/>) when given, else what the checkpoint records, else what its
    /// description says ("normalize"), else the dataset's default with a warning: a plain state_dict says nothing
    /// about its inputs, and a wrong guess does not fail, it only scores badly.
    /// </summary>
    /// <exception cref="ArgumentException">--normalize has neither 1 nor the model's number of channels.</exception>
    /// <param name="datasetName">Names the dataset whose default normalisation (<paramref name="datasetNormalization"/>) is the last resort.</param>
    public static InputPreprocessing For(string modelPath, ModelCheckpoint checkpoint, string datasetName, Normalization datasetNormalization, Normalization? given, Action<string>? warn)
    {
        Normalization? recorded = checkpoint.NormalizationMean is { } mean ? new Normalization(mean, checkpoint.NormalizationStd!) : null;
        if (given is not null)
        {
            var normalization = given.ForChannels(checkpoint.Architecture.InChannels);
            if (recorded is not null && recorded != normalization)
                warn?.Invoke($"--model '{modelPath}' records inputs {recorded.Describe()}; --normalize replaces that with {normalization.Describe()}.");
            return new InputPreprocessing(normalization, FromOption);
        }
        if (recorded is not null) return new InputPreprocessing(recorded, FromModel);
        if (Described(checkpoint.Architecture.Description) is { } described)
            return new InputPreprocessing(described.ForChannels(checkpoint.Architecture.InChannels), FromDescription);
        warn?.Invoke($"--model '{modelPath}' records no input normalisation; using {datasetName}'s default ({datasetNormalization.Describe()}). " +
                     "A model trained elsewhere may expect other inputs: give --normalize MEAN,STD (e.g. 0.5,0.5 for inputs scaled to [-1, 1]) or --normalize none.");
        return new InputPreprocessing(datasetNormalization, $"{datasetName}'s default; the model records none");
    }

    /// <summary>The description's "normalize", parsed, or null when it has none.</summary>
    /// <exception cref="ArgumentException">The text is not --normalize's syntax (named with the description).</exception>
    public static Normalization? Described(ModelDescription? description)
    {
        if (description?.Normalize is not { } text) return null;
        try
        {
            return Normalization.Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"description '{description.Name}', field normalize: {e.Message.Replace("--normalize", "normalize")}", e);
        }
    }
}
