using System.Net;
using System.Text;

namespace Circumvent.Experiments.Reports;

/// <summary>
/// O-ASR (after the defence) against P-ASR (after the retuning attack that followed it), in percent: one point per
/// attack and rate, one colour per defence, on <see cref="LineChart"/>'s frame, with the diagonal P-ASR = O-ASR drawn
/// dotted — a point far above it is a backdoor that only looked removed (Min et al. 2024's superficial safety).
/// </summary>
public static class ScatterChart
{
    /// <summary>One mark: O-ASR and P-ASR (means over seeds) and what it stands for (its tooltip).</summary>
    public sealed record Point(double OAsr, double PAsr, string Label);

    public sealed record Series(string Name, IReadOnlyList<Point> Points);

    public static LineChart.Axis OAsrAxis { get; } = new("O-ASR: ASR after the defence (%)", 0, 100, 20);

    public const double Radius = 5;

    public static string Render(string title, IReadOnlyList<Series> series)
    {
        var svg = new StringBuilder();
        LineChart.Frame(svg, title, OAsrAxis, "P-ASR: ASR after the retuning attack (%)");
        svg.AppendLine($"<line x1=\"{F(LineChart.PlotX(OAsrAxis, 0))}\" y1=\"{F(LineChart.Y(0))}\" x2=\"{F(LineChart.PlotX(OAsrAxis, 100))}\" y2=\"{F(LineChart.Y(100))}\" " +
                       "stroke=\"#888\" stroke-dasharray=\"2 3\"/>");
        for (int s = 0; s < series.Count; s++)
        {
            string colour = LineChart.Palette[s % LineChart.Palette.Length];
            foreach (var p in series[s].Points)
                svg.AppendLine($"<circle cx=\"{F(LineChart.PlotX(OAsrAxis, p.OAsr))}\" cy=\"{F(LineChart.Y(p.PAsr))}\" r=\"{F(Radius)}\" fill=\"{colour}\" fill-opacity=\"0.8\">" +
                               $"<title>{WebUtility.HtmlEncode($"{series[s].Name} · {p.Label}: O-ASR {p.OAsr:F2}, P-ASR {p.PAsr:F2}")}</title></circle>");
            double ly = LineChart.Top + 10 + s * 20;
            int lx = LineChart.Left + LineChart.PlotWidth + 20;
            svg.AppendLine($"<circle cx=\"{lx + 12}\" cy=\"{F(ly)}\" r=\"{F(Radius)}\" fill=\"{colour}\"/>");
            svg.AppendLine($"<text x=\"{lx + 30}\" y=\"{F(ly + 4)}\">{WebUtility.HtmlEncode(series[s].Name)}</text>");
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    /// <summary>One series per defence of <paramref name="table"/> with its (attack, rate) entries that have both O-ASR and P-ASR; defences without any are left out.</summary>
    public static IReadOnlyList<Series> From(ResultsTable table) =>
        [.. table.Defenses.Select(d => new Series(d, [.. table.Rows
                .Select(row => (row, entry: table.At(row.Attack, row.Rate, d)))
                .Where(x => x.entry is { Asr: not null, PAsr: not null })
                .Select(x => new Point(x.entry!.Asr!.Mean, x.entry.PAsr!.Mean, $"{x.row.Attack} {ResultsTable.Rate(x.row.Rate)}"))]))
            .Where(s => s.Points.Count > 0)];

    private static string F(double v) => LineChart.F(v);
}
