using System.Globalization;
using System.Text;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Spectre.Console;

namespace Circumvent.Cli.Commands;

/// <summary>ACC/ASR/RA per stage: a Spectre table on a terminal, aligned plain text otherwise.</summary>
internal static class ScoresTable
{
    public sealed record Row(string Stage, BackdoorScores? Scores);

    public static IReadOnlyList<Row> Rows(DefenseResult result)
    {
        var rows = new List<Row> { new("before", result.Before) };
        rows.AddRange(result.Stages.Select(s => new Row(s.Label, s.Scores)));
        rows.Add(new Row("after", result.After));
        return rows;
    }

    public static void Print(CliConsole console, string title, IReadOnlyList<Row> rows, string footer)
    {
        if (console.Interactive) PrintSpectre(console, title, rows, footer);
        else console.Out.Write(Plain(title, rows, footer));
    }

    public static string Plain(string title, IReadOnlyList<Row> rows, string footer)
    {
        int width = Math.Max(5, rows.Max(r => r.Stage.Length));
        bool knn = HasKnn(rows);
        var text = new StringBuilder();
        text.AppendLine(title);
        text.AppendLine($"{"stage".PadRight(width)}  {"ACC",7}  {"ASR",7}  {"RA",7}" + (knn ? $"  {"kNN",7}" : ""));
        foreach (var row in rows)
            text.AppendLine($"{row.Stage.PadRight(width)}  {Cell(row.Scores?.Acc),7}  {Cell(row.Scores?.Asr),7}  {Cell(row.Scores?.Ra),7}" +
                            (knn ? $"  {Cell(row.Scores?.Knn),7}" : ""));
        text.AppendLine(footer);
        return text.ToString();
    }

    /// <summary>A percentage with two decimals, or "-" when it was not measured.</summary>
    public static string Cell(double? percent) => percent is double p ? p.ToString("F2", CultureInfo.InvariantCulture) : "-";

    private static void PrintSpectre(CliConsole console, string title, IReadOnlyList<Row> rows, string footer)
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title)).Caption(Markup.Escape(footer));
        table.AddColumn("stage");
        bool knn = HasKnn(rows);
        foreach (var name in knn ? new[] { "ACC %", "ASR %", "RA %", "kNN %" } : ["ACC %", "ASR %", "RA %"]) table.AddColumn(new TableColumn(name).RightAligned());
        foreach (var row in rows)
        {
            string[] cells = [Markup.Escape(row.Stage), Cell(row.Scores?.Acc), AsrCell(row.Scores?.Asr), Cell(row.Scores?.Ra)];
            table.AddRow(knn ? [.. cells, Cell(row.Scores?.Knn)] : cells);
        }
        ansi.Write(table);
    }

    // An encoder's rows carry its kNN accuracy beside the downstream probe's ACC/ASR/RA; a classifier's table keeps its three columns.
    private static bool HasKnn(IReadOnlyList<Row> rows) => rows.Any(r => r.Scores?.Knn is not null);

    // The paper counts a defence as successful when ASR < 15%.
    private static string AsrCell(double? asr) => asr switch
    {
        null => "-",
        < 15 => $"[green]{Cell(asr)}[/]",
        _ => $"[red]{Cell(asr)}[/]",
    };
}
