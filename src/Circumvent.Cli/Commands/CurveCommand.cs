using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Method.Attacks;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;

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
        var command = new Command("curve", "Evaluate ACC/ASR along the curves of a purification run; write CSV and SVG.") { run, points, csv, svg, batchSize };
        command.SetAction(parse =>
        {
            string folder = parse.Value(run);
            int n = parse.GetValue(points);
            int batch = parse.GetValue(batchSize);
            if (n < 2) throw new UsageException($"--points must be at least 2 (t = 0 and t = 1), got {n}.");
            if (batch < 1) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            if (!Directory.Exists(folder)) throw new UsageException($"--run '{folder}': folder not found.");
            string csvPath = PurifyRun.CheckFilePath("--csv", parse.GetValue(csv) ?? Path.Combine(folder, "curves.csv"));
            string svgPath = PurifyRun.CheckFilePath("--svg", parse.GetValue(svg) ?? Path.Combine(folder, "curves.svg"));
            var written = Execute(folder, n, batch, csvPath, svgPath, console);
            console.Out.WriteLine($"{written} curves evaluated at {n} points; wrote {csvPath} and {svgPath}");
            return 0;
        });
        return command;
    }

    public static int Execute(string folder, int points, int batchSize, string csvPath, string svgPath, CliConsole console)
    {
        var config = RunFolder.ReadConfig(folder);
        var files = Directory.EnumerateFiles(folder, "*" + CurveFile.Extension).ToList();
        if (files.Count == 0)
            throw new UsageException($"--run '{folder}' holds no trained curves (only tsc and mcr train curves; an interrupted run may have none yet).");
        var curves = files.Select(CurveFile.Load).OrderBy(c => c.Round).ThenBy(c => c.Stage, StringComparer.Ordinal).ToList();
        var setup = RunSetup.From(folder, config);

        var csv = new StringBuilder("round,stage,t,acc,asr,ra\n");
        var series = new List<CurvePlot.Series>();
        foreach (var curve in curves)
        {
            var arch = Architectures.Create(curve.Architecture);
            var values = new List<(double T, double Acc, double? Asr)>();
            for (int i = 0; i < points; i++)
            {
                console.Cancellation.ThrowIfCancellationRequested();
                double t = (double)i / (points - 1);
                var weights = CurvePoint.At(arch, curve.Curve, t, setup.Clean, setup.Normalization, batchSize);
                var s = BackdoorMetrics.Evaluate(arch, weights, setup.Test, setup.Normalization, setup.Attack);
                values.Add((t, s.Acc, s.Asr));
                csv.Append(CultureInfo.InvariantCulture, $"{curve.Round},{curve.Stage},{t:0.####},{s.Acc:0.####},{Num(s.Asr)},{Num(s.Ra)}\n");
                console.Out.WriteLine($"  round {curve.Round} {curve.Stage} t={t:0.###}: ACC {ScoresTable.Cell(s.Acc)} ASR {ScoresTable.Cell(s.Asr)}");
            }
            series.Add(new CurvePlot.Series($"round {curve.Round} {curve.Stage}", values));
        }
        double? markT = config["options"]?["t"]?.GetValue<double>();
        string title = $"{config["defense"]?.GetValue<string>() ?? "?"}: ACC (solid) and ASR (dashed) along each curve";
        AtomicText.Write(csvPath, csv.ToString());
        AtomicText.Write(svgPath, CurvePlot.Render(title, series, markT));
        return curves.Count;
    }

    private static string Num(double? v) => v is double x ? x.ToString("0.####", CultureInfo.InvariantCulture) : "";

    /// <summary>The clean subset, test set, normalisation and attack a run was made with, rebuilt from its config.</summary>
    private sealed record RunSetup(ImageDataset Clean, ImageDataset Test, Normalization Normalization, IAttack? Attack)
    {
        public static RunSetup From(string folder, JsonObject config)
        {
            var input = config["input"] as JsonObject
                        ?? throw new UsageException($"--run '{folder}': its config has no 'input' section (was it made by `circumvent purify`?).");
            JsonNode Field(JsonNode parent, string key) =>
                parent[key] ?? throw new UsageException($"--run '{folder}': config.json has no '{key}' (was it made by `circumvent purify`?).");
            try
            {
                var dataset = DatasetSpec.Load(Field(input, "data").GetValue<string>());
                double fraction = Field(input, "clean_fraction").GetValue<double>();
                int seed = Field(config, "seed").GetValue<int>();
                var norm = Field(input, "normalization");
                float[] Floats(string key) => [.. Field(norm, key).AsArray().Select(v => (float)(v ?? throw new FormatException("null value")).GetValue<double>())];
                var normalization = new Normalization(Floats("mean"), Floats("std"));
                var attack = input["attack"] is JsonNode a ? AttackFactory.FromJson(a.ToJsonString()) : null;
                return new RunSetup(Subsets.PerClass(dataset.Train, fraction, seed), dataset.Test, normalization, attack);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new UsageException($"--run '{folder}': config.json is malformed ({e.Message}).");
            }
        }
    }
}
