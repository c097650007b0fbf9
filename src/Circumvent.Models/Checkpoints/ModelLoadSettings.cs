namespace Circumvent.Models.Checkpoints;

/// <summary>
/// How to read a checkpoint's network, the one place `eval`, `purify` and the pipelines say it. The
/// architecture comes from, in order: <see cref="Architecture"/> (a description's exact network, e.g.
/// --description), else the file's own metadata when no hints are given, else inference from the tensor
/// names and shapes guided by the <see cref="ArchName"/>/<see cref="Width"/> hints (--arch/--width).
/// A description and hints exclude each other: the description already fixes every layer.
/// </summary>
/// <param name="AllowNonFinite">Load weights holding NaN/Inf with a warning instead of refusing them.</param>
public sealed record ModelLoadSettings(ArchitectureConfig? Architecture = null, string? ArchName = null, double? Width = null, bool AllowNonFinite = false)
{
    public static readonly ModelLoadSettings Default = new();

    private bool HasHints => ArchName is not null || Width is not null;

    /// <summary>
    /// Builds the checkpoint from already-read tensors; <paramref name="height"/>×<paramref name="width"/> is
    /// the input size inference assumes (weights rarely show it). <paramref name="inferred"/> receives one
    /// line saying what was inferred, when the architecture was not stated by the file or a description.
    /// </summary>
    /// <exception cref="ArgumentException">Both a description and --arch/--width were given.</exception>
    /// <exception cref="CheckpointException">The tensors do not fit, or hold NaN/Inf and that is not allowed.</exception>
    public ModelCheckpoint Build(string path, SafeTensorsContent content, int height, int width, Action<string>? inferred = null)
    {
        if (Architecture is not null && HasHints)
            throw new ArgumentException("--description fixes the whole network; do not combine it with --arch or --width.");
        var stored = ModelCheckpoint.StoredArchitecture(path, content);
        var config = Architecture ?? (stored is not null && !HasHints ? stored : null);
        if (config is null)
        {
            config = ArchitectureInference.Infer(path, content, ArchName ?? stored?.Name, Width ?? stored?.WidthMultiplier, height, width);
            inferred?.Invoke($"model {Path.GetFileName(path)}: {ArchitectureInference.Describe(config)} " +
                             $"({(ArchName is null ? "architecture inferred from its tensors" : "--arch " + ArchName)})");
        }
        return ModelCheckpoint.FromContent(path, content, config, AllowNonFinite ? NonFinitePolicy.Warn : NonFinitePolicy.Reject);
    }
}
