using Circumvent.Method.Pipelines;

namespace Circumvent.Cli.Commands;

/// <summary>`purify` and `demo`'s view of <see cref="Purification"/>: progress lines while it runs, then the scores table.</summary>
internal static class PurifyRun
{
    public static Purification.Outcome Execute(PurificationRequest request, CliConsole console)
    {
        var outcome = Purification.Run(request, new PurifyProgressView(console), console.Out.WriteLine, console.Cancellation, console.Warn);
        var result = outcome.Result;
        ScoresTable.Print(console, $"{request.Defense.Name}: {Path.GetFileName(request.ModelPath)} → {Path.GetFileName(outcome.OutputPath)} ({outcome.Inputs})", ScoresTable.Rows(result),
            $"{result.Elapsed.TotalSeconds:F0} s this run, {result.ComputeSeconds:F0} s in all units; {result.UnitsRun} units run, {result.UnitsResumed} resumed; {outcome.BytesWritten / 1e6:F1} MB written"
            + AsrOverAll(result));
        if (outcome.Retune is { } retune)
            console.Out.WriteLine($"retuning attack ({retune.Poisoned} poisoned of {retune.Images} images, 5 epochs): P-ASR {ScoresTable.Cell(retune.Scores.Asr)} " +
                                  $"(O-ASR {ScoresTable.Cell(result.After?.Asr)}), ACC {ScoresTable.Cell(retune.Scores.Acc)} (was {ScoresTable.Cell(result.After?.Acc)})");
        if (outcome.Qra is { } qra)
            console.Out.WriteLine($"query-based reactivation attack (ε 16/255, {qra.TrainingImages} images): ASR {ScoresTable.Cell(qra.PurifiedAsr)} on the purified model, " +
                                  $"{ScoresTable.Cell(qra.CleanModelAsr)} on the clean model; clean images + δ → target {ScoresTable.Cell(qra.PurifiedCleanToTarget)} and {ScoresTable.Cell(qra.CleanModelCleanToTarget)}");
        return outcome;
    }

    /// <summary>The table's ASR counts non-target images; the footer adds it over all test images, as other tools count it.</summary>
    private static string AsrOverAll(Circumvent.Method.Defenses.DefenseResult result) =>
        result.Before?.AsrAll is { } before && result.After?.AsrAll is { } after
            ? $"\nASR over non-target test images; over all test images (target class included): before {ScoresTable.Cell(before)}, after {ScoresTable.Cell(after)}"
            : "";
}
