using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Runs;
using System.Text.Json.Nodes;

namespace Circumvent.Tests.Method;

public class DefenseTests
{
    [Fact]
    public void NoDefenseReturnsACopyScoredOnce()
    {
        var problem = TinyDefenseProblem.Create();
        var observer = new RecordingObserver();
        var result = new NoDefense().Run(problem.Input(), observer);
        TscTests.AssertSameWeights(problem.Parameters, result.Purified);
        Assert.NotSame(problem.Parameters[problem.Parameters.Names.First()], result.Purified[problem.Parameters.Names.First()]);
        Assert.Equal(result.Before, result.After);
        Assert.Empty(observer.Started);
        Assert.Equal(1, observer.BeforeCount);
        Assert.InRange(result.Before!.Acc, 50, 100); // the tiny MLP learned the quadrants
    }

    [Fact]
    public void McrFineTunesThenTrainsOneCurveWithoutTheL2Term()
    {
        var problem = TinyDefenseProblem.Create();
        var options = new McrOptions
        {
            Curve = new McrOptions().Curve with { Epochs = 2, BatchSize = 16 },
            FineTune = new FineTuneOptions { Epochs = 2, BatchSize = 16, LearningRate = 0.01 },
        };
        Assert.Equal(0, options.Curve.L2);
        var observer = new RecordingObserver();
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var result = new Mcr(options).Run(problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") }, observer);

        Assert.Equal(["round1.finetune", "round1.curve", "round1.point"], observer.Started);
        Assert.Equal(["round 1 · fine-tuned endpoint", "round 1 · curve point"], observer.Evaluations.Select(e => e.Label));
        Assert.Equal(result.Stages[^1].Scores, result.After);
        var curve = CurveFile.Load(Assert.Single(result.Curves).Path).Curve;
        TscTests.AssertSameWeights(problem.Parameters, curve.Start);
        // The curve's far end is the fine-tuned copy, which moved away from θ.
        Assert.Contains(curve.End, e => !e.Tensor.ToArray().SequenceEqual(problem.Parameters[e.Name].ToArray()));
        Assert.Equal(0.0, result.Config["options"]!["curve"]!["l2"]!.GetValue<double>());
    }

    [Fact]
    public void FineTuneDefenseRunsOneResumableUnit()
    {
        var problem = TinyDefenseProblem.Create();
        var settings = new FineTuneOptions { Epochs = 2, BatchSize = 16, LearningRate = 0.01 };
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") };
        var first = new FineTuneDefense(settings).Run(input);
        Assert.Equal(1, first.UnitsRun);
        Assert.Equal(["round 1 · fine-tune"], first.Stages.Select(s => s.Label));
        Assert.Contains(first.Purified, e => !e.Tensor.ToArray().SequenceEqual(problem.Parameters[e.Name].ToArray()));

        var second = new FineTuneDefense(settings).Run(input);
        Assert.Equal(0, second.UnitsRun);
        Assert.Equal(1, second.UnitsResumed);
        TscTests.AssertSameWeights(first.Purified, second.Purified);
        Assert.Equal(first.After, second.After);
    }

    [Fact]
    public void DefencesShareOneFolderFormatButNeverEachOthersFolders()
    {
        var problem = TinyDefenseProblem.Create();
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") };
        new NoDefense().Run(input);
        var config = RunFolder.ReadConfig(input.RunFolder!);
        Assert.Equal("none", config["defense"]!.GetValue<string>());
        var error = Assert.Throws<ArgumentException>(() => new FineTuneDefense(new FineTuneOptions { Epochs = 1 }).Run(input));
        Assert.Contains("defense", error.Message);
    }

    [Fact]
    public void AForeignNonEmptyFolderIsNotUsedAsARunFolder()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        folder.Write("notes.txt", [1, 2, 3]);
        var error = Assert.Throws<ArgumentException>(() => RunFolder.Open(folder.Path, new JsonObject { ["defense"] = "tsc" }));
        Assert.Contains("not empty", error.Message);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void CorruptStateIsReportedNotIgnored()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        string run = Path.Combine(folder.Path, "run");
        var config = new JsonObject { ["defense"] = "tsc" };
        RunFolder.Open(run, config);
        File.WriteAllText(Path.Combine(run, RunFolder.StateFile), "{ not json");
        var error = Assert.Throws<ArgumentException>(() => RunFolder.Open(run, config));
        Assert.Contains(RunFolder.StateFile, error.Message);
    }
    [Fact]
    public void ARunFolderResumesWhenOnlyItsInputsMovedAndOneMadeBeforeContentWasRecordedStillResumes()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        JsonObject Config(string data, string? trigger, string? digest) => new()
        {
            ["defense"] = "tsc",
            ["input"] = new JsonObject
            {
                ["data"] = data,
                ["attack"] = trigger is null ? null : new JsonObject { ["kind"] = "blended", ["trigger_image"] = trigger },
                ["content"] = digest is null ? null : new JsonObject { ["data"] = digest },
            },
        };
        JsonObject Without(JsonObject c) { var copy = c.DeepClone().AsObject(); copy["input"]!.AsObject().Remove("content"); return copy; }
        string run = Path.Combine(folder.Path, "run");
        string configPath = Path.Combine(run, RunFolder.ConfigFile);
        RunFolder.Open(run, Config("cifar10:/a/data", "/a/t.png", "d1"));

        // Moved, same content: resumes, and config.json names the new places.
        RunFolder.Open(run, Config("cifar10:/b/data", "/b/t.png", "d1"));
        Assert.Contains("/b/data", File.ReadAllText(configPath));
        // Moved and other content: refused, saying so.
        var other = Assert.Throws<ArgumentException>(() => RunFolder.Open(run, Config("cifar10:/c/data", "/b/t.png", "d2")));
        Assert.Contains("other content", other.Message);
        // Same content but another setting, or a place turned into another kind of data: refused.
        Assert.Throws<ArgumentException>(() => RunFolder.Open(run, Config("gtsrb:/b/data", "/b/t.png", "d1")));
        var changed = Config("cifar10:/b/data", "/b/t.png", "d1");
        changed["defense"] = "mcr";
        Assert.Throws<ArgumentException>(() => RunFolder.Open(run, changed));
        Assert.Contains("/b/data", File.ReadAllText(configPath));

        // A folder made before content was recorded: resumes with everything else equal (and is left as it was), not moved.
        string old = Path.Combine(folder.Path, "old");
        RunFolder.Open(old, Without(Config("cifar10:/a/data", null, null)));
        string before = File.ReadAllText(Path.Combine(old, RunFolder.ConfigFile));
        RunFolder.Open(old, Config("cifar10:/a/data", null, "d1"));
        Assert.Equal(before, File.ReadAllText(Path.Combine(old, RunFolder.ConfigFile)));
        Assert.Throws<ArgumentException>(() => RunFolder.Open(old, Config("cifar10:/b/data", null, "d1")));
    }

    /// <summary>
    /// `purify` recorded --data as written before session 19; a folder that names its data relatively resumes under the
    /// absolute form (same content) and then names it absolutely. Relative to another folder: another place, content decides.
    /// </summary>
    [Fact]
    public void ARunFolderThatRecordedARelativeDataPathResumesUnderItsAbsoluteForm()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        JsonObject Config(string data, string digest) => new()
        {
            ["defense"] = "tsc",
            ["input"] = new JsonObject { ["data"] = data, ["content"] = new JsonObject { ["data"] = digest } },
        };
        string run = Path.Combine(folder.Path, "run");
        string data = Path.Combine(folder.Path, "data");
        RunFolder.Open(run, Config("cifar10:" + Path.GetRelativePath(Environment.CurrentDirectory, data), "d1"));
        Assert.Contains("other content", Assert.Throws<ArgumentException>(() => RunFolder.Open(run, Config("cifar10:" + data, "d2"))).Message);
        RunFolder.Open(run, Config("cifar10:" + data, "d1"));
        Assert.Equal(data, RunFolder.ReadConfig(run)["input"]!["data"]!.GetValue<string>()["cifar10:".Length..]);
    }
}
