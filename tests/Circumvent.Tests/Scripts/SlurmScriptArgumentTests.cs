using Circumvent.Tests.Support;

namespace Circumvent.Tests.Scripts;

/// <summary>
/// scripts/slurm/experiment-array.sbatch refuses, with one line and exit 2, what would run the wrong
/// shard: no array task id, a task id outside 0..SHARDS-1, a SHARDS that is not a number. (The runs
/// themselves are in Experiments/SlurmArrayTests, under a real Slurm.)
/// </summary>
public class SlurmScriptArgumentTests
{
    private static ExternalProcess.Result Run(string? taskId, params string[] args)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the sbatch script is a bash script");
        var script = Path.Combine(RepositoryRoot.Path, "scripts", "slurm", "experiment-array.sbatch");
        // A CIRCUMVENT that would fail loudly if the script got as far as running it.
        return ExternalProcess.Run("bash", [script, .. args], new Dictionary<string, string?>
        {
            ["SLURM_ARRAY_TASK_ID"] = taskId,
            ["CIRCUMVENT"] = "/nonexistent/circumvent",
        });
    }

    [SkippableTheory]
    [InlineData(null, "3", "SLURM_ARRAY_TASK_ID is not set; submit with sbatch --array")]
    [InlineData("3", "3", "array task 3 is not a shard of 3; expected --array=0-2")]
    [InlineData("0", "three", "SHARDS must be a positive whole number, got 'three'")]
    [InlineData("0", "0", "SHARDS must be a positive whole number, got '0'")]
    public void RefusesWhatWouldRunTheWrongShard(string? taskId, string shards, string expected)
    {
        var run = Run(taskId, "plan.yaml", "out", shards);

        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
        Assert.Equal("", run.Stdout);
    }

    [SkippableFact]
    public void RefusesAMissingArgument()
    {
        var run = Run("0", "plan.yaml", "out");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("usage: sbatch --array=0-<SHARDS-1> experiment-array.sbatch PLAN OUT SHARDS [CACHE]", run.Stderr);
    }
}
