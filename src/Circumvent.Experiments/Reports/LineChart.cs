using System.Globalization;
using System.Net;
using System.Text;

namespace Circumvent.Experiments.Reports;

/// <summary>
/// A small self-contained SVG line chart of ACC (solid) and ASR (dashed) in percent, one colour per
/// series: along t ∈ [0, 1] for the curves of a purification (the paper's Figure 3), or against the
/// round for TSC's rounds.
/// </summary>
public static class LineChart
{
    /// <param name="Points">X (t or round), ACC and ASR (null: not measured) in percent.</param>
    public sealed record Series(string Name, IReadOnlyList<(double X, double Acc, double? Asr)> Points);

    /// <summary>The horizontal axis: its label, range and tick step.</summary>
    public sealed record Axis(string Label, double Min, double Max, double Step);

    /// <summary>t from 0 to 1, ticks every 0.2.</summary>
    public static Axis AlongT { get; } = new("t", 0, 1, 0.2);

    /// <summary>Round 0 (before the defence) to <paramref name="rounds"/>, a tick per round.</summary>
    public static Axis Rounds(int rounds) => new("round (0 = before)", 0, Math.Max(1, rounds), 1);

    internal const int Width = 720, Height = 400, Left = 56, Top = 40, PlotWidth = 440, PlotHeight = 300;
    internal static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

    /// <param name="mark">An x to mark with a dotted vertical line (e.g. the t the defence takes).</param>
    public static string Render(string title, Axis axis, IReadOnlyList<Series> series, double? mark = null)
    {
        double X(double x) => PlotX(axis, x);
        var svg = new StringBuilder();
        Frame(svg, title, axis, "%");
        if (mark is double m)
            svg.AppendLine($"<line x1=\"{F(X(m))}\" y1=\"{Top}\" x2=\"{F(X(m))}\" y2=\"{Top + PlotHeight}\" stroke=\"#888\" stroke-dasharray=\"2 3\"/>");

        for (int s = 0; s < series.Count; s++)
        {
            string colour = Palette[s % Palette.Length];
            var points = series[s].Points;
            svg.AppendLine(Polyline(points.Select(p => (X(p.X), p.Acc)), colour, dashed: false));
            var asr = points.Where(p => p.Asr is not null).Select(p => (X(p.X), p.Asr!.Value)).ToList();
            if (asr.Count > 0) svg.AppendLine(Polyline(asr, colour, dashed: true));
            double ly = Top + 10 + s * 36;
            int lx = Left + PlotWidth + 20;
            svg.AppendLine($"<line x1=\"{lx}\" y1=\"{F(ly)}\" x2=\"{lx + 24}\" y2=\"{F(ly)}\" stroke=\"{colour}\" stroke-width=\"2\"/>");
            svg.AppendLine($"<text x=\"{lx + 30}\" y=\"{F(ly + 4)}\">{WebUtility.HtmlEncode(series[s].Name)} ACC</text>");
            svg.AppendLine($"<line x1=\"{lx}\" y1=\"{F(ly + 16)}\" x2=\"{lx + 24}\" y2=\"{F(ly + 16)}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>");
            svg.AppendLine($"<text x=\"{lx + 30}\" y=\"{F(ly + 20)}\">{WebUtility.HtmlEncode(series[s].Name)} ASR</text>");
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    /// <summary>
    /// Opens the SVG and draws the frame every chart of the report shares: title, grid, x ticks every axis.Step, percent
    /// ticks every 20 on the vertical axis labelled <paramref name="yLabel"/>. The caller adds its marks and closes the svg.
    /// </summary>
    internal static void Frame(StringBuilder svg, string title, Axis axis, string yLabel)
    {
        svg.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.AppendLine($"<text x=\"{Left}\" y=\"22\" font-size=\"14\">{WebUtility.HtmlEncode(title)}</text>");
        int xTicks = (int)Math.Round((axis.Max - axis.Min) / axis.Step);
        for (int i = 0; i <= xTicks; i++)
        {
            double value = axis.Min + i * axis.Step, x = PlotX(axis, value);
            svg.AppendLine($"<line x1=\"{F(x)}\" y1=\"{Top}\" x2=\"{F(x)}\" y2=\"{Top + PlotHeight}\" stroke=\"#e5e5e5\"/>");
            svg.AppendLine($"<text x=\"{F(x)}\" y=\"{Top + PlotHeight + 16}\" text-anchor=\"middle\">{F(value)}</text>");
        }
        for (int i = 0; i <= 5; i++)
        {
            double y = Y(i * 20);
            svg.AppendLine($"<line x1=\"{Left}\" y1=\"{F(y)}\" x2=\"{Left + PlotWidth}\" y2=\"{F(y)}\" stroke=\"#e5e5e5\"/>");
            svg.AppendLine($"<text x=\"{Left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{i * 20}</text>");
        }
        svg.AppendLine($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{PlotWidth}\" height=\"{PlotHeight}\" fill=\"none\" stroke=\"black\"/>");
        svg.AppendLine($"<text x=\"{Left + PlotWidth / 2}\" y=\"{Top + PlotHeight + 34}\" text-anchor=\"middle\">{WebUtility.HtmlEncode(axis.Label)}</text>");
        svg.AppendLine($"<text x=\"14\" y=\"{Top + PlotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {Top + PlotHeight / 2})\">{WebUtility.HtmlEncode(yLabel)}</text>");
    }

    /// <summary>The horizontal pixel of <paramref name="x"/> on <paramref name="axis"/> (clamped to the plot).</summary>
    internal static double PlotX(Axis axis, double x) => Left + Math.Clamp((x - axis.Min) / (axis.Max - axis.Min), 0, 1) * PlotWidth;

    private static string Polyline(IEnumerable<(double X, double Percent)> points, string colour, bool dashed)
    {
        string coordinates = string.Join(" ", points.Select(p => $"{F(p.X)},{F(Y(p.Percent))}"));
        string dash = dashed ? " stroke-dasharray=\"6 4\"" : "";
        return $"<polyline points=\"{coordinates}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>";
    }

    /// <summary>The vertical pixel of a percentage (clamped to [0, 100]).</summary>
    internal static double Y(double percent) => Top + PlotHeight - Math.Clamp(percent, 0, 100) / 100 * PlotHeight;
    internal static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
