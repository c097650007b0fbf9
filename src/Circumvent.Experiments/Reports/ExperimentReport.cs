using Circumvent.Method.Runs;
using System.Text;
using Circumvent.Experiments.Running;
using Circumvent.Method.Defenses;

namespace Circumvent.Experiments.Reports;

/// <summary>Reads results files and writes table.md, table.csv and report.html into a folder (each atomically).</summary>
public static class ExperimentReport
{
    public sealed record Written(int Results, int Tables, string Markdown, string Csv, string Html);

    public static Written Write(IReadOnlyList<string> resultsFiles, string outFolder, string? title = null)
    {
        if (resultsFiles.Count == 0) throw new ArgumentException("give at least one results file (results.jsonl).");
        var records = ResultsFile.ReadAll(resultsFiles).SelectMany(ResultRecord.ParseAll).ToList();
        if (records.Count == 0) throw new ArgumentException($"'{string.Join("', '", resultsFiles)}' holds no finished cells yet.");
        if (File.Exists(outFolder)) throw new ArgumentException($"--out '{outFolder}' is a file; expected a folder.");
        Directory.CreateDirectory(outFolder);
        var tables = ResultsTable.Build(records);
        title ??= $"Experiment report: {string.Join(", ", resultsFiles.Select(Path.GetFileName))}";

        var md = new StringBuilder($"# {title}\n\n");
        foreach (var table in tables) md.AppendLine(table.ToMarkdown());
        var csv = new StringBuilder(ResultsTable.CsvHeader + "\n");
        foreach (var row in tables.SelectMany(t => t.CsvRows())) csv.Append(row).Append('\n');

        var written = new Written(records.Count, tables.Count, Path.Combine(outFolder, "table.md"), Path.Combine(outFolder, "table.csv"), Path.Combine(outFolder, "report.html"));
        AtomicText.Write(written.Markdown, md.ToString());
        AtomicText.Write(written.Csv, csv.ToString());
        AtomicText.Write(written.Html, HtmlReport.Render(title, tables, records));
        return written;
    }
}
