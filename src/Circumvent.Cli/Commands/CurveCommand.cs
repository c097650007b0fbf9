using Circumvent.Method.Runs;
using System.CommandLine;
using System.Globalization;
using System.Text;
using Circumvent.Experiments.Reports;
using Circumvent.Method.Defenses;
using Circumvent.Method.Pipelines;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent curve`: ACC and ASR at evenly spaced t along every curve a purification trained
/// (read from its run folder), written as CSV and as an SVG plot.
/// </summary>
internal static class CurveCommand
{
    public static Command Create(CliConsole console)
    {
        var run = Options.Required("--run", "Run folder of a purification (OUT.run next to purify's --out).");
        var points = Options.Make("--points", "Evenly spaced t values per curve, including t = 0 and t = 1.", 11);
        var csv = new Option<string?>("--csv") { Description = "CSV to write (default RUN/curves.csv)." };
        var svg = new Option<string?>("--svg") { Description = "SVG plot to write (default RUN/curves.svg)." };
        var batchSize = Options.Make("--batch-size", "Batch size for BN re-estimation.", 256);
        var on = Options.Make("--on", "Images to score: 'test' (the test set) or 'clean' (the clean subset the curves were trained on).", "test");
        var command = new Command("curve", "Evaluate ACC/ASR along the curves of a purification run; write CSV and SVG.") { run, points, csv, svg, batchSize, on };
        command.SetAction(parse =>
        {
            string folder = parse.Value(run);
            int n = parse.GetValue(points);
            int batch = parse.GetValue(batchSize);
            if (n < 2) throw new UsageException($"--points must be at least 2 (t = 0 and t = 1), got {n}.");
            if (batch < 1) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            string images = parse.GetValue(on)!;
            if (images is not ("test" or "clean")) throw new UsageException($"--on must be 'test' or 'clean', got '{images}'.");
            if (!Directory.Exists(folder)) throw new UsageException($"--run '{folder}': folder not found.");
            string csvPath = Path.GetFullPath(parse.GetValue(csv) ?? Path.Combine(folder, "curves.csv"));
            string svgPath = Path.GetFullPath(parse.GetValue(svg) ?? Path.Combine(folder, "curves.svg"));
            new CommandFiles().Reads("--run", Path.Combine(folder, RunFolder.ConfigFile))
                .Writes("--csv", csvPath, [".csv"]).Writes("--svg", svgPath, [".svg"]).Check();
            var written = Execute(folder, n, batch, csvPath, svgPath, console, onCleanSet: images == "clean");
            console.Out.WriteLine($"{written} curves evaluated at {n} points; wrote {csvPath} and {svgPath}");
            return 0;
        });
        return command;
    }

    public static int Execute(string folder, int points, int batchSize, string csvPath, string svgPath, CliConsole console, bool onCleanSet = false)
    {
        var config = RunFolder.ReadConfig(folder);
        var curves = CurveSampling.LoadCurves(folder);
        if (curves.Count == 0)
            throw new UsageException($"--run '{folder}' holds no trained curves (only tsc and mcr train curves; an interrupted run may have none yet).");
        var setup = CurveSampling.SetupFromRunFolder(folder, config);
        console.Out.WriteLine($"inputs {setup.Normalization.Describe()} (recorded in the run), curve augmentation {(CurveSampling.AugmentFrom(config) ? setup.Augmentation?.Describe() : "none")}");
        var samples = CurveSampling.Sample(curves, points, batchSize, setup, console.Cancellation, s =>
            console.Out.WriteLine($"  round {s.Round} {s.Stage} t={s.T:0.###}: ACC {ScoresTable.Cell(s.Scores.Acc)} ASR {ScoresTable.Cell(s.Scores.Asr)}"),
            CurveSampling.AugmentFrom(config), onCleanSet);

        var csv = new StringBuilder("round,stage,t,acc,asr,ra\n");
        foreach (var s in samples)
            csv.Append(CultureInfo.InvariantCulture, $"{s.Round},{s.Stage},{s.T:0.####},{s.Scores.Acc:0.####},{Num(s.Scores.Asr)},{Num(s.Scores.Ra)}\n");
        var series = samples.GroupBy(s => (s.Round, s.Stage))
            .Select(g => new LineChart.Series($"round {g.Key.Round} {g.Key.Stage}", [.. g.Select(s => (s.T, s.Scores.Acc, s.Scores.Asr))]))
            .ToList();
        double? markT = config["options"]?["t"]?.GetValue<double>();
        string title = $"{config["defense"]?.GetValue<string>() ?? "?"}: ACC (solid) and ASR (dashed) along each curve"
                       + (onCleanSet ? $", on the {setup.Clean.Count} clean images it was trained on" : "");
        AtomicText.Write(csvPath, csv.ToString());
        AtomicText.Write(svgPath, LineChart.Render(title, LineChart.AlongT, series, markT));
        return curves.Count;
    }

    private static string Num(double? v) => v is double x ? x.ToString("0.####", CultureInfo.InvariantCulture) : "";
}
