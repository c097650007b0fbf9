using System.Globalization;
using System.Text.Json.Nodes;
using Circumvent.Tests.Cli;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Experiments;

public class ReportTests(ITestOutputHelper output)
{
    /// <summary>A results line as the runner writes it (only the fields the report reads, plus a key).</summary>
    private static JsonObject Line(string attack, double rate, string defense, int seed, double acc, double asr, bool withCurves = false)
    {
        var line = new JsonObject
        {
            ["key"] = $"{attack}-{rate}-{defense}-{seed}",
            ["dataset"] = "cifar10:/data/cifar10",
            ["architecture"] = "preact-resnet18",
            ["width"] = 0.25,
            ["attack"] = attack,
            ["poison_rate"] = rate,
            ["defense"] = defense,
            ["seed"] = seed,
            ["acc_before"] = 90.0, ["asr_before"] = 100.0, ["ra_before"] = 0.0,
            ["acc_after"] = acc, ["asr_after"] = asr, ["ra_after"] = 100 - asr,
            ["rounds"] = new JsonArray(),
            ["curves"] = new JsonArray(),
        };
        if (defense == "tsc")
        {
            line["rounds"] = new JsonArray(
                new JsonObject { ["round"] = 1, ["acc"] = acc + 1, ["asr"] = asr + 20, ["ra"] = 0.0 },
                new JsonObject { ["round"] = 2, ["acc"] = acc, ["asr"] = asr, ["ra"] = 0.0 });
            line["config"] = new JsonObject { ["defense_options"] = new JsonObject { ["t"] = 0.4 } };
        }
        if (withCurves)
        {
            JsonArray Values(params double[] v) => new([.. v.Select(x => (JsonNode?)x)]);
            line["curves"] = new JsonArray(
                new JsonObject { ["round"] = 1, ["stage"] = "stage 1", ["t"] = Values(0, 0.5, 1), ["acc"] = Values(90, 40, 88), ["asr"] = Values(100, 5, 99) },
                new JsonObject { ["round"] = 1, ["stage"] = "stage 2", ["t"] = Values(0, 0.5, 1), ["acc"] = Values(88, 70, 85), ["asr"] = Values(99, 10, 8) });
        }
        return line;
    }

    private static string WriteResults(string dir, IEnumerable<JsonObject> lines, string tail = "")
    {
        var path = Path.Combine(dir, "results.jsonl");
        File.WriteAllText(path, string.Concat(lines.Select(l => l.ToJsonString() + "\n")) + tail);
        return path;
    }

    /// <summary>What `experiment report` wrote for <paramref name="lines"/>: the Markdown, the HTML (entities decoded) and the CSV.</summary>
    private sealed record Report(string Markdown, string Html, string[] Csv)
    {
        /// <summary>The CSV row of (attack, defence), field by header name.</summary>
        public Func<string, string> Row(string attack, string defense)
        {
            var header = Csv[0].Split(',');
            var row = Csv.Single(l => l.Contains($",{attack},") && l.Contains($",{defense},")).Split(',');
            return name => row[Array.IndexOf(header, name)];
        }
    }

    private static Report MakeReport(IEnumerable<JsonObject> lines)
    {
        var dir = CliHarness.TempFolder();
        var run = CliHarness.Run("experiment", "report", WriteResults(dir, lines), "--out", Path.Combine(dir, "report"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        string Read(string name) => File.ReadAllText(Path.Combine(dir, "report", name));
        return new Report(Read("table.md"), System.Net.WebUtility.HtmlDecode(Read("report.html")), File.ReadAllLines(Path.Combine(dir, "report", "table.csv")));
    }

    private static IEnumerable<JsonObject> HandMade() =>
    [
        Line("badnet", 0.05, "none", 0, 91.0, 100.0),
        Line("badnet", 0.05, "none", 1, 93.0, 98.0),
        Line("badnet", 0.05, "tsc", 0, 88.0, 2.0, withCurves: true),
        Line("badnet", 0.05, "tsc", 1, 86.0, 6.0),
        Line("blended", 0.05, "none", 0, 92.0, 99.0),
        Line("blended", 0.05, "tsc", 0, 80.0, 30.0),
        Line("blended", 0.05, "tsc", 1, 84.0, 40.0),
    ];

    [Fact]
    public void TableHoldsMeanAndSampleStdOverSeedsAndMarksSuccess()
    {
        var dir = CliHarness.TempFolder();
        // A torn last line (an interrupted run) is ignored by the report.
        var results = WriteResults(dir, HandMade(), tail: "{\"key\":\"torn\",\"acc");
        var run = CliHarness.Run("experiment", "report", results, "--out", Path.Combine(dir, "report"), "--title", "Hand-made");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("7 results in 1 table(s)", run.Stdout);

        var md = File.ReadAllText(Path.Combine(dir, "report", "table.md"));
        Assert.Contains("# Hand-made", md);
        Assert.Contains("| Attack | Rate | none ACC | none ASR | tsc ACC | tsc ASR |", md);
        // badnet none: ACC 91, 93 → 92 ± √2; ASR 100, 98 → 99 ± √2. tsc: ACC 88, 86 → 87 ± √2; ASR 2, 6 → 4 ± 2√2 (< 15: success).
        // In brackets ACC's mean change against acc_before (90 in every line): none +1, +3 → +2; tsc −2, −4 → −3.
        Assert.Contains("| badnet | 5% | 92.00 ± 1.41 (+2.00) | 99.00 ± 1.41 | 87.00 ± 1.41 (−3.00) | **4.00 ± 2.83** ✓ |", md);
        // blended none has one seed: no ± part; tsc ASR 35 ± 7.07 is not a success; its ACC changes −10, −6 → −8.
        Assert.Contains("| blended | 5% | 92.00 (+2.00) | 99.00 | 82.00 ± 2.83 (−8.00) | 35.00 ± 7.07 |", md);

        var csv = File.ReadAllLines(Path.Combine(dir, "report", "table.csv"));
        Assert.Equal(5, csv.Length);
        var tsc = csv.Single(l => l.Contains(",badnet,") && l.Contains(",tsc,")).Split(',');
        var header = csv[0].Split(',');
        double Field(string name) => double.Parse(tsc[Array.IndexOf(header, name)], CultureInfo.InvariantCulture);
        Assert.Equal(87, Field("acc_mean"));
        Assert.Equal(Math.Sqrt(2), Field("acc_std"), 3);
        Assert.Equal(4, Field("asr_mean"));
        Assert.Equal(2 * Math.Sqrt(2), Field("asr_std"), 3);
        Assert.Equal(2, Field("seeds"));
        Assert.Equal(-3, Field("acc_change_mean"), 9);
        Assert.Equal("true", tsc[^1]);
        Assert.EndsWith(",false", csv.Single(l => l.Contains(",blended,") && l.Contains(",tsc,")));
    }

    [Fact]
    public void TwoResultsOfOneSeedUnderOneLabelAreCountedAsOneSeedAndNamedInANote()
    {
        // Another cell under the same label and seed (say, the plan's encoder settings changed between runs).
        var other = Line("badnet", 0.05, "none", 0, 95.0, 97.0);
        other["key"] = "badnet-changed-plan";
        var report = MakeReport([.. HandMade(), other]);
        var md = report.Markdown;
        Assert.Contains("Note: badnet 5% · none has more than one result for seed(s) 0", md);
        Assert.DoesNotContain("Note: badnet 5% · tsc", md);
        Assert.DoesNotContain("Note: blended", md);
        // Three results of two seeds: the table says two seeds, and all three are in the mean (91, 93, 95 → 93).
        Assert.Contains("up to 2 seed(s)", md);
        Assert.Contains("| badnet | 5% | 93.00 ± 2.00 (+3.00) |", md);
        Assert.Equal("2", report.Row("badnet", "none")("seeds"));
    }

    /// <summary>
    /// Lines with the retuning attack's P-ASR and QRA's result get a P-ASR and a Q-ASR column per defence, in that order, in
    /// the Markdown, CSV and HTML tables, means over the seeds that ran them; the clean model's Q-ASR in brackets. Results
    /// without QRA keep their columns (the plain report has neither).
    /// </summary>
    [Fact]
    public void RetuningAndQraResultsGetAColumnPerDefence()
    {
        var lines = HandMade().ToList();
        // tsc badnet seeds 0 and 1: P-ASR 80, 90 → 85 ± 7.07; Q-ASR 40, 50 → 45 ± 7.07, on the clean model 1, 3 → 2.
        // blended tsc: only seed 1 ran QRA (70, clean model 5); none blended: P-ASR only.
        (int Line, double PAsr, double? QAsr, double? Clean)[] extra = [(2, 80, 40, 1), (3, 90, 50, 3), (4, 60, null, null), (5, 30, null, null), (6, 20, 70, 5)];
        foreach (var (i, p, q, c) in extra)
        {
            lines[i]["p_asr"] = p;
            if (q is double qa) lines[i]["qra"] = new JsonObject { ["asr"] = qa, ["clean_model_asr"] = c, ["images"] = 525 };
        }
        var report = MakeReport(lines);

        var md = report.Markdown;
        Assert.Contains("| Attack | Rate | none ACC | none ASR | none P-ASR | none Q-ASR | tsc ACC | tsc ASR | tsc P-ASR | tsc Q-ASR |", md);
        Assert.Contains("| badnet | 5% | 92.00 ± 1.41 (+2.00) | 99.00 ± 1.41 | - | - | 87.00 ± 1.41 (−3.00) | **4.00 ± 2.83** ✓ | 85.00 ± 7.07 | 45.00 ± 7.07 (2.00) |", md);
        Assert.Contains("| blended | 5% | 92.00 (+2.00) | 99.00 | 60.00 | - | 82.00 ± 2.83 (−8.00) | 35.00 ± 7.07 | 25.00 ± 7.07 | 70.00 (5.00) |", md);
        Assert.Contains("Q-ASR: ASR of QRA's perturbation", md);

        var tsc = report.Row("badnet", "tsc");
        double Field(string name) => double.Parse(tsc(name), CultureInfo.InvariantCulture);
        Assert.Equal(85, Field("p_asr_mean"));
        Assert.Equal(45, Field("q_asr_mean"));
        Assert.Equal(5 * Math.Sqrt(2), Field("q_asr_std"), 3);
        Assert.Equal(2, Field("q_asr_clean_model_mean"));
        Assert.Equal("", report.Row("badnet", "none")("q_asr_mean"));

        Assert.Contains("<th colspan=\"4\">tsc</th>", report.Html);
        Assert.Contains("<th>ACC</th><th>ASR</th><th>P-ASR</th><th>Q-ASR</th>", report.Html);
        Assert.Contains("<td>45.00 ± 7.07 (2.00)</td>", report.Html);

        // Without QRA the tables keep P-ASR alone.
        var plainLines = HandMade().ToList();
        plainLines[2]["p_asr"] = 80.0;
        var plainMd = MakeReport(plainLines).Markdown;
        Assert.Contains("| Attack | Rate | none ACC | none ASR | none P-ASR | tsc ACC | tsc ASR | tsc P-ASR |", plainMd);
        Assert.DoesNotContain("Q-ASR", plainMd);
    }

    [Fact]
    public void NoDefenceShowsNoAccuracyChange()
    {
        var none = new Circumvent.Experiments.Reports.ResultsTable.Entry(2, new(79.06, 0.32, 2), new(93.81, 0.8, 2), null, new(0, 0, 2));
        Assert.Equal("79.06 ± 0.32", none.AccText());
        var tsc = none with { AccChange = new(-5.554, 0.7, 2) };
        Assert.Equal("79.06 ± 0.32 (−5.55)", tsc.AccText());
    }

    [Fact]
    public void BadResultsAreOneLineExitTwo()
    {
        var dir = CliHarness.TempFolder();
        var missing = CliHarness.Run("experiment", "report", Path.Combine(dir, "none.jsonl"), "--out", Path.Combine(dir, "r"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("none.jsonl", missing.Stderr);

        var garbage = Path.Combine(dir, "bad.jsonl");
        File.WriteAllText(garbage, HandMade().First().ToJsonString() + "\nnot json\n");
        var bad = CliHarness.Run("experiment", "report", garbage, "--out", Path.Combine(dir, "r"));
        Assert.Equal(2, bad.ExitCode);
        Assert.Single(bad.StderrLines);
        Assert.Contains("line 2", bad.Stderr);
        Assert.False(Directory.Exists(Path.Combine(dir, "r")));
    }

    [SkippableFact]
    public void HtmlReportRendersItsFiguresInHeadlessChromium()
    {
        var dir = CliHarness.TempFolder();
        var results = WriteResults(dir, HandMade());
        var run = CliHarness.Run("experiment", "report", results, "--out", Path.Combine(dir, "report"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var html = Path.Combine(dir, "report", "report.html");
        var text = File.ReadAllText(html);
        // One figure along t (the one cell with curves) + one per (attack, defence) with rounds: badnet tsc, blended tsc.
        Assert.Equal(3, text.Split("<svg").Length - 1);
        Assert.DoesNotContain("<script", text);
        Assert.DoesNotContain("src=", text);

        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        if (chromium is null)
        {
            throw new SkipException("chromium not installed (scripts/install-deps installs it); the page was checked as text only.");
        }
        var dom = Chromium(chromium, "--dump-dom", new Uri(html).AbsoluteUri);
        // After load: the table, three inline SVG charts with their polylines (ACC + ASR per series), the success mark.
        Assert.Contains("<table class=\"results\">", dom);
        Assert.Equal(3, dom.Split("<svg").Length - 1);
        Assert.Equal(2 * 2 + 2 * 2 + 2 * 2, dom.Split("<polyline").Length - 1); // 2 curves, 2 seeds, 2 seeds
        Assert.Contains("class=\"ok\"", dom);

        var png = Path.Combine(dir, "report", "screenshot.png");
        Chromium(chromium, $"--screenshot={png}", "--window-size=1200,1600", new Uri(html).AbsoluteUri);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        // A blank page compresses to a few kB; the table and three charts take far more.
        Assert.True(bytes.Length > 30_000, $"screenshot is only {bytes.Length} bytes");
        output.WriteLine($"screenshot: {png} ({bytes.Length} bytes)");
    }

    /// <summary>
    /// With P-ASR in the results the page plots O-ASR against P-ASR: one figure per setting, a point per (attack, rate) of every
    /// defence that has P-ASR at the means over seeds (tsc badnet: O-ASR (2 + 6)/2 = 4, P-ASR (80 + 90)/2 = 85 → pixel
    /// (56 + 0.04·440, 40 + 300 − 0.85·300) = (73.6, 85)), a legend mark per such defence, none for a defence without it.
    /// </summary>
    [SkippableFact]
    public void HtmlReportPlotsOAsrAgainstPAsrPerDefence()
    {
        var dir = CliHarness.TempFolder();
        var lines = HandMade().ToList();
        double?[] pAsr = [null, null, 80, 90, 50, 10, 30]; // none: no retuning; tsc badnet 80/90; blended none 50; blended tsc 10/30
        for (int i = 0; i < lines.Count; i++) if (pAsr[i] is double p) lines[i]["p_asr"] = p;
        lines[0]["p_asr"] = null;
        var results = WriteResults(dir, lines);
        var run = CliHarness.Run("experiment", "report", results, "--out", Path.Combine(dir, "report"));
        Assert.True(run.ExitCode == 0, run.Stderr);
        var html = Path.Combine(dir, "report", "report.html");
        var text = File.ReadAllText(html);
        var section = text[text.IndexOf("id=\"o-asr-p-asr\"", StringComparison.Ordinal)..text.IndexOf("id=\"along-t\"", StringComparison.Ordinal)];
        Assert.Equal(1, section.Split("<svg").Length - 1);
        // Points: tsc badnet, tsc blended, none blended (its badnet has no P-ASR); legend: none, tsc.
        Assert.Equal(3 + 2, section.Split("<circle").Length - 1);
        Assert.Contains("<circle cx=\"73.6\" cy=\"85\"", section);
        // blended tsc: O-ASR 35, P-ASR 20 → (56 + 0.35·440, 340 − 0.2·300) = (210, 280); blended none: (99, 50) → (491.6, 190).
        Assert.Contains("<circle cx=\"210\" cy=\"280\"", section);
        Assert.Contains("<circle cx=\"491.6\" cy=\"190\"", section);
        Assert.Contains("tsc · badnet 5%: O-ASR 4.00, P-ASR 85.00", System.Net.WebUtility.HtmlDecode(section));

        var without = CliHarness.Run("experiment", "report", WriteResults(CliHarness.TempFolder(), HandMade()), "--out", Path.Combine(dir, "plain"));
        Assert.True(without.ExitCode == 0, without.Stderr);
        Assert.Contains("No P-ASR", File.ReadAllText(Path.Combine(dir, "plain", "report.html")));

        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        if (chromium is null) throw new SkipException("chromium not installed (scripts/install-deps installs it); the page was checked as text only.");
        var dom = Chromium(chromium, "--dump-dom", new Uri(html).AbsoluteUri);
        Assert.Equal(4, dom.Split("<svg").Length - 1); // the scatter plus the three line charts
        Assert.Equal(5, dom.Split("<circle").Length - 1);
    }

    private static string Chromium(string exe, params string[] args)
    {
        // --no-sandbox: the test may run as root in a container, where the sandbox cannot start.
        var run = ExternalProcess.Run(exe, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", .. args], timeout: TimeSpan.FromSeconds(60));
        Assert.True(run.ExitCode == 0, $"chromium exit {run.ExitCode}: {run.Stderr}");
        return run.Stdout;
    }
}
