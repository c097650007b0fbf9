using System.CommandLine;
using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Reports;
using Circumvent.Experiments.Running;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `circumvent experiment run PLAN` runs a grid of backdoored models × defences resumably into a
/// results file; `circumvent experiment report RESULTS…` turns results into tables and an HTML page.
/// The work is in Circumvent.Experiments; this only parses options and prints progress.
/// </summary>
internal static class ExperimentCommand
{
    public static Command Create(CliConsole console) => new("experiment", "Run an experiment plan (grid of attacks × defences × seeds) and report it.")
    {
        RunCommand(console),
        ReportCommand(console),
    };

    private static Command RunCommand(CliConsole console)
    {
        var plan = new Argument<string>("plan") { Description = "Plan file (.json, .yaml or .yml); see experiments/ for examples." };
        var output = new Option<string?>("--out") { Description = "Folder for results.jsonl and the per-cell run folders (default: PLAN without extension + .out)." };
        var cache = new Option<string?>("--cache") { Description = "Folder of backdoored models keyed by their training config (default: OUT/models); share it between plans." };
        var parallel = Options.Make("--parallel", "Cells run at once; the thread budget is split between them.", 1);
        var shard = new Option<string?>("--shard") { Description = "Run only shard i of n (cells whose index mod n = i), e.g. 0/4; results go to results.shard-i-of-n.jsonl." };
        var dryRun = new Option<bool>("--dry-run") { Description = "List the cells (index, key, done or not) and exit." };
        var keepGoing = new Option<bool>("--keep-going")
        {
            Description = "When a cell fails, go on with the others (one line per failure, the full error in OUT/failures.log; " +
                          "the other cells of a model that failed to train are not tried again); exit code 1 if any failed.",
        };
        var command = new Command("run", "Train (or reuse) every backdoored model of a plan, run every defence on it, append one JSON line per cell.")
        {
            plan, output, cache, parallel, shard, dryRun, keepGoing,
        };
        command.SetAction(parse =>
        {
            string planPath = parse.GetValue(plan)!;
            var experiment = PlanReader.Read(planPath, requireMadeInputs: !parse.GetValue(dryRun));
            var settings = new RunSettings(
                Path.GetFullPath(parse.GetValue(output) ?? Path.ChangeExtension(planPath, null) + ".out"),
                parse.GetValue(cache) is { } c ? Path.GetFullPath(c) : null,
                parse.GetValue(parallel),
                parse.GetValue(shard) is { } s ? Shard.Parse(s) : null,
                parse.GetValue(keepGoing));
            if (settings.Parallel < 1) throw new UsageException($"--parallel must be at least 1, got {settings.Parallel}.");
            var files = new CommandFiles().Reads("PLAN", planPath).WritesFolder("--out", settings.OutFolder).WritesFolder("--cache", settings.CacheFolder);
            if (parse.GetValue(dryRun))
            {
                ListCells(console, experiment, settings);
                return 0;
            }
            files.Check();
            var summary = ExperimentRunner.Run(experiment, settings, new ConsoleObserver(console, experiment.Name, settings), console.Cancellation);
            console.Out.WriteLine($"plan '{experiment.Name}': {summary.RunNow} cells run in {Time(summary.Elapsed)}, {summary.AlreadyDone} were already done; " +
                                  (summary.Failed.Count == 0 ? $"all {summary.Cells} in {summary.ResultsPath}" : $"{summary.AlreadyDone + summary.RunNow} of {summary.Cells} in {summary.ResultsPath}"));
            if (summary.Failed.Count == 0) return 0;
            console.Error.WriteLine($"circumvent: {summary.Failed.Count} cell(s) failed ({string.Join(", ", summary.Failed.Select(f => f.Cell.Index).Order())}); " +
                                    $"errors in {settings.FailuresPath}; rerun to retry them (finished cells are kept)");
            return Program.InternalError;
        });
        return command;
    }

    private static Command ReportCommand(CliConsole console)
    {
        var results = new Argument<string[]>("results") { Description = "One or more results files (results.jsonl, results.shard-*.jsonl).", Arity = ArgumentArity.OneOrMore };
        var output = Options.Required("--out", "Folder to write table.md, table.csv and report.html into.");
        var title = new Option<string?>("--title") { Description = "Title of the report (default: the results files' names)." };
        var command = new Command("report", "Write the results table (Markdown, CSV) and an HTML page with the figures.") { results, output, title };
        command.SetAction(parse =>
        {
            new CommandFiles().Reads(parse.GetValue(results)!.Select(r => ("RESULTS", (string?)r))).WritesFolder("--out", parse.Value(output)).Check();
            var written = ExperimentReport.Write(parse.GetValue(results)!, parse.Value(output), parse.GetValue(title));
            console.Out.WriteLine($"{written.Results} results in {written.Tables} table(s); wrote {written.Markdown}, {written.Csv} and {written.Html}");
            return 0;
        });
        return command;
    }

    private static void ListCells(CliConsole console, ExperimentPlan plan, RunSettings settings)
    {
        var done = File.Exists(settings.ResultsPath)
            ? ResultsFile.ReadAll([settings.ResultsPath]).Select(ResultsFile.CellKey).ToHashSet()
            : [];
        var cells = Grid.Expand(plan).Where(settings.ShardOrAll.Contains).ToList();
        foreach (var cell in cells)
            console.Out.WriteLine($"{cell.Index,4}  {cell.Key}  model {cell.ModelKey}  {(done.Contains(cell.Key) ? "done" : "todo")}  {cell.Describe()}");
        console.Out.WriteLine($"{cells.Count} cells (shard {settings.ShardOrAll}), {cells.Count(c => done.Contains(c.Key))} done");
    }

    private static string Time(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:D2}s" : $"{t.TotalSeconds:F0}s";

    /// <summary>Progress lines; cells report from several threads, so writes are serialised.</summary>
    private sealed class ConsoleObserver(CliConsole console, string name, RunSettings settings) : IExperimentObserver
    {
        private readonly Lock _gate = new();

        private void Line(string text)
        {
            lock (_gate) console.Out.WriteLine(text);
        }

        public void Started(int cells, int done, long tornBytes, int parallel, int threadsPerCell)
        {
            if (tornBytes > 0) Line($"{settings.ResultsPath}: cut off a torn last line ({tornBytes} bytes) from an interrupted run; its cell is redone");
            Line($"plan '{name}': {cells} cells (shard {settings.ShardOrAll}), {done} already in {Path.GetFileName(settings.ResultsPath)}, " +
                 $"{cells - done} to run, {parallel} at a time with {threadsPerCell} thread(s) each; out {settings.OutFolder}");
        }

        public void Unmatched(int lines) =>
            Line($"{settings.ResultsPath}: {lines} line(s) are of no cell of this plan (another plan's, or written before the plan changed); kept, not counted");

        public void CellStarted(Cell cell) => Line($"[cell {cell.Index}] {cell.Describe()}: started");

        public void Log(Cell cell, string message) => Line($"[cell {cell.Index}] {message}");

        public void CellFailed(Cell cell, Exception error) => Line($"[cell {cell.Index}] {cell.Describe()}: failed: {Program.OneLineError(error)}");

        public void CellFinished(Cell cell, JsonObject result, int finished, int remaining, TimeSpan eta)
        {
            string S(string key) => ScoresTable.Cell(result[key]?.GetValue<double>());
            // An encoder's line: kNN, then ACC (and ASR where measured) per downstream set.
            string scores = cell.Encoder is { } encoder
                ? $"kNN {S("knn_before")} → {S("knn_after")}" + string.Concat(encoder.Downstreams.Select(d =>
                    $"; {d.Name} ACC {S($"acc_{d.Name}_before")} → {S($"acc_{d.Name}_after")}" +
                    (result[$"asr_{d.Name}_before"] is null ? "" : $", ASR {S($"asr_{d.Name}_before")} → {S($"asr_{d.Name}_after")}")))
                : $"ACC {S("acc_before")} → {S("acc_after")}, ASR {S("asr_before")} → {S("asr_after")}";
            Line($"[{finished}/{finished + remaining} done, ETA {Time(eta)}] cell {cell.Index} {cell.Describe()}: " +
                 $"{scores} ({result["wall_time_seconds"]?.GetValue<double>():F0} s)");
        }
    }
}
