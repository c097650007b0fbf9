using Circumvent.Data;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Attacks;

/// <summary>The clean (surrogate) model an attack crafts its poisons against (`--clean-model`): LC's PGD, SAPA's gradient matching.</summary>
internal static class CleanModelFile
{
    /// <summary>
    /// Loads <see cref="AttackDefinition.CleanModel"/>, checked against the training set's image shape and classes, with its
    /// training record (config and augmentation, JSON; null when the file has none).
    /// </summary>
    public static (IArchitecture Arch, ParameterSet Parameters, Normalization Normalization, string? TrainingJson) Load(AttackDefinition definition, ImageDataset set, string purpose)
    {
        string path = definition.CleanModel
            ?? throw new ArgumentException($"The {definition.Kind} attack needs --clean-model PATH to poison a training set ({purpose}).");
        if (!File.Exists(path)) throw new ArgumentException($"--clean-model '{path}': file not found.");
        var checkpoint = ModelCheckpoint.Load(path);
        var a = checkpoint.Architecture;
        if (a.InChannels != set.Channels || a.Height != set.Height || a.Width != set.Width)
            throw new ArgumentException($"--clean-model '{path}' expects {a.InChannels}×{a.Height}×{a.Width} images but the training set has {set.Channels}×{set.Height}×{set.Width}.");
        if (a.Classes != set.NumClasses)
            throw new ArgumentException($"--clean-model '{path}' has {a.Classes} classes but the training set has {set.NumClasses}.");
        // A checkpoint without normalisation saw inputs scaled to [0, 1] only.
        var normalization = checkpoint.NormalizationMean is { } mean
            ? new Normalization(mean, checkpoint.NormalizationStd!)
            : Normalization.Identity(set.Channels);
        return (Architectures.Create(a), checkpoint.Parameters, normalization, checkpoint.TrainingJson);
    }
}
