using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Circumvent.Engine.Kernels;
using Circumvent.Experiments.Plans;

namespace Circumvent.Experiments.Running;

/// <summary>How a plan is run: where, how many cells at once, which shard.</summary>
/// <param name="OutFolder">Holds the results file and runs/ (one folder per cell).</param>
/// <param name="CacheFolder">Backdoored models by training-config hash (default OUT/models; share it between plans).</param>
/// <param name="Parallel">Cells run at once; the engine's thread budget is split between them.</param>
/// <param name="KeepGoing">A failing cell does not stop the plan: it is reported (<see cref="IExperimentObserver.CellFailed"/>,
/// <see cref="FailuresPath"/>) and the other cells run; cells whose model failed to train are not tried again.</param>
public sealed record RunSettings(string OutFolder, string? CacheFolder = null, int Parallel = 1, Shard? Shard = null, bool KeepGoing = false)
{
    public Shard ShardOrAll => Shard ?? Plans.Shard.All;

    /// <summary>results.jsonl, or results.shard-I-of-N.jsonl for a shard (shards never share a file).</summary>
    public string ResultsPath => Path.Combine(OutFolder, ShardOrAll.Count == 1 ? "results.jsonl" : $"results.shard-{ShardOrAll.Index}-of-{ShardOrAll.Count}.jsonl");

    /// <summary>With <see cref="KeepGoing"/>: each failed cell's error in full (type, message, stack), appended.</summary>
    public string FailuresPath => Path.Combine(OutFolder, ShardOrAll.Count == 1 ? "failures.log" : $"failures.shard-{ShardOrAll.Index}-of-{ShardOrAll.Count}.log");
}

/// <summary>A cell that failed in a run with <see cref="RunSettings.KeepGoing"/>.</summary>
public sealed record CellFailure(Cell Cell, Exception Error);

/// <summary>What the runner reports while it works; called from the cells' threads, so implementations must be thread-safe.</summary>
public interface IExperimentObserver
{
    /// <param name="cells">Cells in this shard.</param>
    /// <param name="done">Of those, already in the results file.</param>
    /// <param name="tornBytes">Bytes of a torn last line that were cut off.</param>
    void Started(int cells, int done, long tornBytes, int parallel, int threadsPerCell) { }

    /// <param name="lines">Lines of the results file that are of no cell of the plan: another plan's, or written before the
    /// plan (or the data's place relative to it) changed. They are kept; their cells, if any, run again.</param>
    void Unmatched(int lines) { }

    void CellStarted(Cell cell) { }

    /// <param name="finished">Cells finished by this run so far; <paramref name="remaining"/> still to do.</param>
    /// <param name="eta">Estimated time to finish the rest (see <see cref="PlanEta"/>).</param>
    void CellFinished(Cell cell, JsonObject result, int finished, int remaining, TimeSpan eta) { }

    /// <summary>With <see cref="RunSettings.KeepGoing"/>: the cell failed (no results line) and the run goes on.</summary>
    void CellFailed(Cell cell, Exception error) { }

    void Log(Cell cell, string message) { }
}

/// <summary>
/// Runs the cells of a plan that are not in the results file yet, appending one line per finished
/// cell. Killing it loses at most the cells in progress (their defence run folders let them resume);
/// rerunning repeats no finished cell.
/// </summary>
public static class ExperimentRunner
{
    /// <param name="Failed">With <see cref="RunSettings.KeepGoing"/>, the cells that failed, in the order they did (else empty).</param>
    public sealed record Summary(int Cells, int AlreadyDone, int RunNow, string ResultsPath, TimeSpan Elapsed, IReadOnlyList<CellFailure> Failed);

    public static Summary Run(ExperimentPlan plan, RunSettings settings, IExperimentObserver observer, CancellationToken cancellation)
    {
        if (settings.Parallel < 1) throw new ArgumentException($"--parallel must be at least 1, got {settings.Parallel}.");
        Directory.CreateDirectory(settings.OutFolder);
        string cache = settings.CacheFolder ?? Path.Combine(settings.OutFolder, "models");
        Directory.CreateDirectory(cache);

        var all = Grid.Expand(plan);
        var cells = all.Where(settings.ShardOrAll.Contains).ToList();
        using var results = ResultsFile.Open(settings.ResultsPath);
        var planKeys = all.Select(c => c.Key).ToHashSet(StringComparer.Ordinal);
        int unmatched = results.Keys.Count(key => !planKeys.Contains(key));
        // The ETA learns from the cells earlier runs finished, so a resumed plan has one at once.
        var eta = new PlanEta();
        foreach (var earlier in results.Earlier) eta.Add(earlier);
        var todo = cells.Where(c => !results.Contains(c.Key)).ToList();
        ModelInputs.CheckUnchanged(cache, todo); // a cached model made from a file since changed is refused before any work
        int threadsBefore = Parallelism.Threads;
        int parallel = Math.Max(1, Math.Min(settings.Parallel, todo.Count));
        int threadsPerCell = Math.Max(1, threadsBefore / parallel);
        observer.Started(cells.Count, cells.Count - todo.Count, results.TornBytes, parallel, threadsPerCell);
        if (unmatched > 0) observer.Unmatched(unmatched);

        var clock = Stopwatch.StartNew();
        var runner = new CellRunner(settings.OutFolder, cache, observer, cancellation);
        bool Cached(string key) => File.Exists(CellRunner.ModelPath(cache, key));
        var queue = new CellQueue(todo, Cached);
        var failures = new ConcurrentQueue<Exception>();
        var failedCells = new ConcurrentQueue<CellFailure>();
        var failuresLog = new Lock(); // serialises the appends of cells failing at once
        int finished = 0;
        var pending = todo.ToList();
        var etaGate = new Lock();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        void Worker()
        {
            while (!stop.IsCancellationRequested && queue.TryTake(out var cell))
            {
                try
                {
                    observer.CellStarted(cell);
                    var line = runner.Run(cell);
                    line["plan"] = plan.Name;
                    results.Append(line);
                    int n = Interlocked.Increment(ref finished);
                    int remaining = todo.Count - n;
                    TimeSpan left;
                    lock (etaGate)
                    {
                        eta.Add(line);
                        pending.Remove(cell);
                        left = eta.Remaining(pending, Cached, parallel)
                            ?? TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / n * remaining);
                    }
                    observer.CellFinished(cell, line, n, remaining, left);
                }
                catch (Exception e) when (settings.KeepGoing && !cancellation.IsCancellationRequested)
                {
                    failedCells.Enqueue(new CellFailure(cell, e));
                    lock (etaGate) pending.Remove(cell);
                    lock (failuresLog)
                        File.AppendAllText(settings.FailuresPath, $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} cell {cell.Index} {cell.Key} {cell.Describe()}\n{e}\n\n");
                    observer.CellFailed(cell, e);
                }
                catch (Exception e)
                {
                    // One failure stops the plan: the other workers finish their cell and take no new one.
                    failures.Enqueue(e);
                    stop.Cancel();
                }
                finally
                {
                    queue.Done(cell);
                }
            }
        }

        Parallelism.Threads = threadsPerCell;
        try
        {
            var workers = Enumerable.Range(0, parallel).Select(_ => new Thread(Worker, maxStackSize: 16 << 20) { IsBackground = true }).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
        }
        finally
        {
            Parallelism.Threads = threadsBefore;
        }
        cancellation.ThrowIfCancellationRequested();
        // The first real error (not a cancellation it caused in the other cells) is what the user sees.
        if (failures.FirstOrDefault(e => e is not OperationCanceledException) is { } failure)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        if (!failures.IsEmpty) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failures.First());
        return new Summary(cells.Count, cells.Count - todo.Count, finished, settings.ResultsPath, clock.Elapsed, [.. failedCells]);
    }
}
