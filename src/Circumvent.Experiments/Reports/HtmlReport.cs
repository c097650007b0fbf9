using System.Net;
using System.Text;

namespace Circumvent.Experiments.Reports;

/// <summary>
/// One self-contained HTML page (no scripts, no external files): the tables, O-ASR against P-ASR per defence (where the
/// retuning attack ran), ACC/ASR along t for every curve of every round and stage (one figure per cell), and ACC/ASR
/// against the round.
/// </summary>
public static class HtmlReport
{
    public static string Render(string title, IReadOnlyList<ResultsTable> tables, IReadOnlyList<ResultRecord> records)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>");
        html.AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine($"<title>{E(title)}</title>");
        html.AppendLine("<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td{white-space:nowrap}" +
                        "th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}th{background:#f0f0f0}td.l,th.l{text-align:left}" +
                        "td.ok{background:#e3f5e1;font-weight:bold}figure{display:inline-block;margin:0.5em}figcaption{font-size:90%;color:#555}</style>");
        html.AppendLine("</head><body>");
        html.AppendLine($"<h1>{E(title)}</h1>");
        html.AppendLine($"<p>{records.Count} results. ACC and ASR (%) after each defence, mean ± sample std over seeds, ACC's mean change against the undefended model in brackets; " +
                        $"green = defence succeeded (mean ASR &lt; {ResultsTable.SuccessAsr:0}%).</p>");
        foreach (var table in tables) Table(html, table);

        html.AppendLine("<h2 id=\"o-asr-p-asr\">O-ASR versus P-ASR</h2>");
        var withPAsr = tables.Select(t => (t.Setting, Series: ScatterChart.From(t))).Where(x => x.Series.Count > 0).ToList();
        if (withPAsr.Count == 0) html.AppendLine("<p>No P-ASR: no cell ran the retuning attack (purify --retune, or \"retune\": true in the plan).</p>");
        foreach (var (setting, series) in withPAsr)
            Figure(html, ScatterChart.Render($"{setting}: ASR after the defence and after the retuning attack", series),
                $"{setting} · one point per attack and rate (mean over seeds); above the dotted diagonal the retuning attack brought the backdoor back");

        var curves = records.Where(r => r.Curves.Count > 0).ToList();
        html.AppendLine("<h2 id=\"along-t\">ACC/ASR along t for each curve</h2>");
        if (curves.Count == 0) html.AppendLine("<p>No curves were sampled (no TSC/MCR cells, or curve_points = 0).</p>");
        foreach (var r in curves)
        {
            var series = r.Curves.Select(c => new LineChart.Series($"round {c.Round} {c.Stage}",
                [.. c.T.Select((t, i) => (t, c.Acc[i], i < c.Asr.Count ? c.Asr[i] : null))])).ToList();
            Figure(html, LineChart.Render($"{Name(r)}: ACC (solid), ASR (dashed)", LineChart.AlongT, series, r.T), $"{Name(r)} · {r.Setting}");
        }

        html.AppendLine("<h2 id=\"rounds\">ACC/ASR versus rounds</h2>");
        var byRounds = records.Where(r => r.Rounds.Count > 0 && r.Before is not null)
            .GroupBy(r => (r.Setting, r.Attack, r.PoisonRate, r.Defense)).ToList();
        if (byRounds.Count == 0) html.AppendLine("<p>No per-round scores (no TSC/MCR/FT cells).</p>");
        foreach (var group in byRounds)
        {
            var series = group.Select(r => new LineChart.Series($"seed {r.Seed}",
                [(0, r.Before!.Acc, r.Before.Asr), .. r.Rounds.Select(x => ((double)x.Round, x.Scores.Acc, x.Scores.Asr))])).ToList();
            int rounds = group.Max(r => r.Rounds.Max(x => x.Round));
            string name = $"{group.Key.Attack} {ResultsTable.Rate(group.Key.PoisonRate)} · {group.Key.Defense}";
            Figure(html, LineChart.Render($"{name}: ACC (solid), ASR (dashed) per round", LineChart.Rounds(rounds), series), $"{name} · {group.Key.Setting}");
        }
        html.AppendLine("</body></html>");
        return html.ToString();
    }

    private static void Table(StringBuilder html, ResultsTable table)
    {
        html.AppendLine($"<h2>{E(table.Setting)}</h2>");
        html.AppendLine("<table class=\"results\"><thead><tr><th class=\"l\" rowspan=\"2\">Attack</th><th rowspan=\"2\">Rate</th>");
        var extra = table.ExtraColumns;
        foreach (var d in table.Defenses) html.AppendLine($"<th colspan=\"{2 + extra.Count}\">{E(d)}</th>");
        html.AppendLine("</tr><tr>");
        foreach (var _ in table.Defenses) html.Append("<th>ACC</th><th>ASR</th>" + string.Concat(extra.Select(c => $"<th>{E(c.Name)}</th>")));
        html.AppendLine("</tr></thead><tbody>");
        foreach (var (attack, rate) in table.Rows)
        {
            html.Append($"<tr><td class=\"l\">{E(attack)}</td><td>{ResultsTable.Rate(rate)}</td>");
            foreach (var d in table.Defenses)
            {
                var e = table.At(attack, rate, d);
                html.Append($"<td>{E(e?.AccText() ?? "-")}</td><td{(e?.Success == true ? " class=\"ok\"" : "")}>{E(e?.Asr?.Format() ?? "-")}</td>");
                foreach (var c in extra) html.Append($"<td>{E(e is null ? "-" : c.Text(e))}</td>");
            }
            html.AppendLine("</tr>");
        }
        html.AppendLine("</tbody></table>");
        if (extra.Count > 0) html.AppendLine($"<p>{E(string.Join(" ", extra.Select(c => c.Legend)))}</p>");
    }

    private static void Figure(StringBuilder html, string svg, string caption)
    {
        html.AppendLine("<figure>");
        html.Append(svg);
        html.AppendLine($"<figcaption>{E(caption)}</figcaption></figure>");
    }

    private static string Name(ResultRecord r) => $"{r.Attack} {ResultsTable.Rate(r.PoisonRate)} · {r.Defense} · seed {r.Seed}";

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
