using Circumvent.Attacks;
using Circumvent.Method.Attacks;
using Circumvent.Method.Pipelines;
using Circumvent.Method.Runs;
using Circumvent.Models.Described;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>`train` and `demo`'s view of <see cref="BackdoorTraining"/>: the same pipeline with progress on the console.</summary>
internal static class TrainingRun
{
    public const string AttackKey = BackdoorTraining.AttackKey;

    public static BackdoorTraining.Outcome Execute(TrainingConfig config, string outputPath, CliConsole console, AttackDefinition? attack = null,
        ModelDescription? description = null, AdaptiveTscOptions? adaptive = null, Circumvent.Data.Normalization? normalization = null) =>
        BackdoorTraining.Run(config, outputPath, attack, console.Cancellation,
            (header, trainer, train) => ProgressView.Run(console, header, trainer, train), description, adaptive, console.Out.WriteLine,
            normalization: normalization);

    /// <summary>The full output path, after checking its folder exists and it is not a folder itself.</summary>
    public static string CheckOutputPath(string path) => OutputPaths.Check("--out", path, "a file path such as model.safetensors");
}
