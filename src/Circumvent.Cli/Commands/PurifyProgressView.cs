using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;

namespace Circumvent.Cli.Commands;

/// <summary>
/// Log lines while a defence runs: each unit's start and end, scores as they arrive, and training
/// progress at most every few seconds (so a log file stays readable).
/// </summary>
internal sealed class PurifyProgressView(CliConsole console) : IDefenseObserver
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private DateTime _lastProgress = DateTime.MinValue;
    private DateTime _unitStart = DateTime.UtcNow;

    public void UnitStarted(DefenseUnit unit)
    {
        _unitStart = DateTime.UtcNow;
        console.Out.WriteLine($"  {unit.Id}: running");
    }

    public void UnitFinished(DefenseUnit unit, bool resumed)
    {
        // Per-unit wall time makes a log usable as a profile of the run (curves vs matching vs scoring).
        console.Out.WriteLine(resumed
            ? $"  {unit.Id}: restored from the run folder"
            : $"  {unit.Id}: done in {(DateTime.UtcNow - _unitStart).TotalSeconds:F0} s");
    }

    public void EvaluatedBefore(BackdoorScores scores) => Print("before", scores);

    public void Evaluated(StageEvaluation evaluation) => Print(evaluation.Label, evaluation.Scores);

    public void Progress(DefenseUnit unit, string detail)
    {
        var now = DateTime.UtcNow;
        if (now - _lastProgress < Interval) return;
        _lastProgress = now;
        console.Out.WriteLine($"  {unit.Id}: {detail}");
    }

    private void Print(string label, BackdoorScores s) =>
        console.Out.WriteLine($"  {label}: ACC {ScoresTable.Cell(s.Acc)}  ASR {ScoresTable.Cell(s.Asr)}  RA {ScoresTable.Cell(s.Ra)}");
}
