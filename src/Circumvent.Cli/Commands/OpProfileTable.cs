using Circumvent.Engine.Diagnostics;

namespace Circumvent.Cli.Commands;

/// <summary>Prints an <see cref="OpProfiler"/> session as a table: per op, calls and milliseconds per step, share of the time.</summary>
internal static class OpProfileTable
{
    /// <summary>Rows under 0.5% of the total are folded into one line so the table stays short.</summary>
    public static void Print(CliConsole console, string title, IReadOnlyList<OpProfiler.Row> rows, int steps)
    {
        double total = rows.Sum(r => r.Seconds);
        console.Out.WriteLine($"{title}: {1000 * total / steps:F1} ms per step ({steps} steps)");
        console.Out.WriteLine($"  {"op",-30}{"calls/step",11}{"ms/step",10}{"share",8}");
        var shown = rows.Where(r => r.Seconds >= 0.005 * total).ToList();
        foreach (var r in shown)
            console.Out.WriteLine($"  {r.Name,-30}{(double)r.Calls / steps,11:F1}{1000 * r.Seconds / steps,10:F2}{100 * r.Seconds / total,7:F1}%");
        double rest = total - shown.Sum(r => r.Seconds);
        if (rows.Count > shown.Count)
            console.Out.WriteLine($"  {$"({rows.Count - shown.Count} smaller rows)",-30}{"",11}{1000 * rest / steps,10:F2}{100 * rest / total,7:F1}%");
    }

    public static IEnumerable<Dictionary<string, object>> Json(IReadOnlyList<OpProfiler.Row> rows, int steps) =>
        rows.Select(r => new Dictionary<string, object>
        {
            ["op"] = r.Name, ["calls_per_step"] = Math.Round((double)r.Calls / steps, 2), ["ms_per_step"] = Math.Round(1000 * r.Seconds / steps, 3),
        });
}
