using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// The JSON report of a purification: acc/asr/ra before and after (percent; null when not measured),
/// every round's stages, the run config, the time spent and the bytes written. `purify --report` writes it; the
/// experiment runner puts the same fields in its results lines.
/// </summary>
public static class PurificationReport
{
    /// <param name="bytesWritten">What the run wrote to disk (progress saves, unit results, the model): "bytes_written".</param>
    public static JsonObject Build(PurificationRequest request, DefenseResult result, long bytesWritten)
    {
        var report = new JsonObject
        {
            ["defense"] = request.Defense.Name,
            ["model"] = Path.GetFullPath(request.ModelPath),
            ["out"] = Path.GetFullPath(request.OutputPath),
            ["run_folder"] = Path.GetFullPath(request.RunFolder),
        };
        AddScores(report, result);
        report["config"] = result.Config.DeepClone();
        report["wall_time_seconds"] = Math.Round(result.Elapsed.TotalSeconds, 3);
        report["compute_seconds"] = Math.Round(result.ComputeSeconds, 3);
        report["units_run"] = result.UnitsRun;
        report["units_resumed"] = result.UnitsResumed;
        if (result.Findings is { Count: > 0 } findings) report["findings"] = findings.DeepClone();
        report["bytes_written"] = bytesWritten;
        return report;
    }

    /// <summary>acc/asr/ra_before and _after plus "rounds": [{round, acc, asr, ra, stages: [{stage, acc, asr, ra}]}].</summary>
    public static void AddScores(JsonObject report, DefenseResult result)
    {
        Add(report, "before", result.Before);
        Add(report, "after", result.After);
        var rounds = new JsonArray();
        foreach (var group in result.Stages.GroupBy(s => s.Round))
        {
            var stages = new JsonArray();
            foreach (var stage in group)
            {
                var entry = new JsonObject { ["stage"] = stage.Stage };
                foreach (var (key, value) in ScoresJson.ToNode(stage.Scores)) entry[key] = value?.DeepClone();
                stages.Add(entry);
            }
            var round = new JsonObject { ["round"] = group.Key, ["stages"] = stages };
            // A round's result is its last stage.
            foreach (var (key, value) in ScoresJson.ToNode(group.Last().Scores)) round[key] = value?.DeepClone();
            rounds.Add(round);
        }
        report["rounds"] = rounds;
    }

    private static void Add(JsonObject report, string suffix, BackdoorScores? scores)
    {
        report[$"acc_{suffix}"] = scores?.Acc;
        report[$"asr_{suffix}"] = scores?.Asr;
        report[$"ra_{suffix}"] = scores?.Ra;
        if (scores?.AsrAll is { } all) report[$"asr_all_{suffix}"] = all;
        if (scores?.Knn is { } knn) report[$"knn_{suffix}"] = knn;
    }
}
