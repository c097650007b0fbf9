using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Circumvent.Tests.Cli;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Experiments;

/// <summary>Starts one local Slurm for the tests of this class (or says why it cannot), and stops it after them.</summary>
public sealed class SlurmFixture : IDisposable
{
    public string? Unavailable { get; } = LocalSlurm.Unavailable();
    public LocalSlurm? Slurm { get; }

    public SlurmFixture()
    {
        if (Unavailable is null) Slurm = new LocalSlurm(CliHarness.TempFolder());
    }

    public void Dispose() => Slurm?.Dispose();
}

/// <summary>
/// scripts/slurm/experiment-array.sbatch under a real (one-node, local) Slurm: an array of shards covers
/// a plan exactly once and trains each shared model once; a task stopped by SIGTERM (what the script's
/// --signal=B:TERM asks Slurm to send before the time limit) exits 143 and resumes when resubmitted.
/// </summary>
public class SlurmArrayTests(SlurmFixture fixture) : IClassFixture<SlurmFixture>
{
    private static readonly TimeSpan JobLimit = TimeSpan.FromSeconds(100);

    private LocalSlurm Slurm()
    {
        Skip.If(fixture.Unavailable is not null, fixture.Unavailable);
        var exe = Path.Combine(AppContext.BaseDirectory, "circumvent");
        Skip.IfNot(File.Exists(exe), $"the circumvent executable is not beside the tests ({exe})");
        return fixture.Slurm!;
    }

    /// <summary>Submits the array script as the README shows, one CPU per task so two run at once.</summary>
    private static string SubmitArray(LocalSlurm slurm, string dir, string array, params string[] scriptArgs) =>
        // Progress saved after every epoch (not once a minute), so the stop test sees a state file while the training runs.
        slurm.Submit(new Dictionary<string, string?> { ["CIRCUMVENT"] = Path.Combine(AppContext.BaseDirectory, "circumvent"), ["CIRCUMVENT_SAVE_INTERVAL"] = "0" }, dir,
            [$"--array={array}", "--cpus-per-task=1", $"--output={dir}/task-%a.out",
             Path.Combine(RepositoryRoot.Path, "scripts", "slurm", "experiment-array.sbatch"), .. scriptArgs]);

    private static List<int> Indices(string results) =>
        File.Exists(results)
            ? [.. File.ReadAllLines(results).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!["index"]!.GetValue<int>())]
            : [];

    private static string TaskOutputs(string dir) =>
        string.Concat(Directory.GetFiles(dir, "task-*.out").Order().Select(File.ReadAllText));

    [SkippableFact]
    public void AnArrayOfThreeShardsRunsEveryCellOnceAndTheReportMergesThem()
    {
        var slurm = Slurm();
        var (dir, data, trigger) = TinyPlans.Folder();
        var plan = TinyPlans.Write(dir, TinyPlans.Plan(data, trigger)); // 6 cells, 2 models
        var outFolder = Path.Combine(dir, "out");

        var job = SubmitArray(slurm, dir, "0-2", plan, outFolder, "3");
        slurm.WaitFor(job, JobLimit);

        var outputs = TaskOutputs(dir);
        var tasks = slurm.Tasks(job);
        Assert.True(tasks.Count == 3 && tasks.Values.All(t => t is ("COMPLETED", "0:0")),
            $"tasks: {string.Join(", ", tasks.Select(t => $"{t.Key} {t.Value}"))}\n{outputs}");
        var shards = Enumerable.Range(0, 3).Select(i => Path.Combine(outFolder, $"results.shard-{i}-of-3.jsonl")).ToList();
        for (int i = 0; i < 3; i++) Assert.Equal([i, i + 3], Indices(shards[i]).Order());
        // The three tasks share the cache: each of the two models is trained by one of them.
        Assert.Equal(2, Regex.Count(outputs, @"\] training the backdoored model"));

        var report = CliHarness.Run(["experiment", "report", .. shards, "--out", Path.Combine(dir, "report")]);
        Assert.True(report.ExitCode == 0, report.Stderr);
        Assert.Contains("6 results in 1 table(s)", report.Stdout);
    }

    [SkippableFact]
    public void ATaskStoppedBySigtermResumesWhenResubmitted()
    {
        var slurm = Slurm();
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 0 });
        document["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 });
        document["training"]!["epochs"] = 40; // long enough to be stopped while training
        var plan = TinyPlans.Write(dir, document);
        var outFolder = Path.Combine(dir, "out");
        string[] args = [plan, outFolder, "2"];

        var job = SubmitArray(slurm, dir, "0-1", args);
        // Stop once the model has a whole saved epoch (a state is also written inside the first one): the batch shells get
        // SIGTERM, as --signal=B:TERM@120 sends it.
        var clock = Stopwatch.StartNew();
        while (!Directory.Exists(outFolder) || !Directory.EnumerateFiles(outFolder, "model.safetensors.train-state", SearchOption.AllDirectories).Any(HasAWholeEpoch))
        {
            Assert.True(clock.Elapsed < JobLimit, $"no training state within {JobLimit.TotalSeconds:F0} s\n{TaskOutputs(dir)}");
            Thread.Sleep(100);
        }
        var signalled = slurm.Client("scancel", "--batch", "--signal=TERM", job);
        Assert.True(signalled.ExitCode == 0, signalled.ToString());
        slurm.WaitFor(job, JobLimit);

        var stopped = TaskOutputs(dir);
        var tasks = slurm.Tasks(job);
        Assert.True(tasks.Values.All(t => t is ("FAILED", "143:0")), $"tasks: {string.Join(", ", tasks.Select(t => $"{t.Key} {t.Value}"))}\n{stopped}");
        Assert.Equal(2, Regex.Count(stopped, "stopped by SIGTERM \\(exit 143\\)"));
        Assert.Empty(Indices(Path.Combine(outFolder, "results.shard-0-of-2.jsonl")));

        foreach (var file in Directory.GetFiles(dir, "task-*.out")) File.Delete(file);
        var resubmitted = SubmitArray(slurm, dir, "0-1", args);
        slurm.WaitFor(resubmitted, JobLimit);

        var resumed = TaskOutputs(dir);
        Assert.True(slurm.Tasks(resubmitted).Values.All(t => t is ("COMPLETED", "0:0")), resumed);
        Assert.Equal([0], Indices(Path.Combine(outFolder, "results.shard-0-of-2.jsonl")));
        Assert.Equal([1], Indices(Path.Combine(outFolder, "results.shard-1-of-2.jsonl")));
        // The training went on from its saved epochs instead of starting again.
        var firstEpoch = Regex.Match(resumed, @"epoch (\d+)/40");
        Assert.True(firstEpoch.Success && int.Parse(firstEpoch.Groups[1].Value) > 1, resumed);
    }

    // True when the training state at path records at least one finished epoch (false while it is being replaced).
    private static bool HasAWholeEpoch(string path)
    {
        try
        {
            var meta = JsonNode.Parse(Circumvent.Models.Checkpoints.SafeTensorsReader.Read(path).Metadata["circumvent.training_state"])!;
            return meta["epochs_done"]!.GetValue<int>() >= 1;
        }
        catch (Exception e) when (e is IOException or Circumvent.Models.Checkpoints.CheckpointException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
