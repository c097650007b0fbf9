using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Experiments;

/// <summary>Plans whose architecture is a network described in a file ({description: FILE}).</summary>
public class DescribedPlanTests
{
    /// <summary>An MLP on the tiny plans' 1×28×28, 10-class synthetic data, with <paramref name="hidden"/> units.</summary>
    private static string Mlp(int hidden) => $$"""
        { "name": "tiny-described-mlp", "input": [1, 28, 28], "classes": 10,
          "layers": [
            { "type": "flatten" },
            { "type": "linear", "name": "fc1", "in_features": 784, "out_features": {{hidden}} },
            { "type": "relu" },
            { "type": "linear", "name": "fc2", "in_features": {{hidden}}, "out_features": 10 }
          ] }
        """;

    /// <summary>The tiny plan with one attack, one defence and the described MLP (file given relative to the plan).</summary>
    private static string DescribedPlan(string dir, string data, string trigger, int hidden = 8)
    {
        Directory.CreateDirectory(Path.Combine(dir, "nets"));
        File.WriteAllText(Path.Combine(dir, "nets", "mlp.json"), Mlp(hidden));
        var plan = TinyPlans.Plan(data, trigger);
        plan["architectures"] = new JsonArray(new JsonObject { ["description"] = "nets/mlp.json" });
        plan["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 0 });
        plan["defenses"] = new JsonArray("none");
        return TinyPlans.Write(dir, plan);
    }

    [Fact]
    public void DescriptionIsPartOfTheModelKey()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var cell = Grid.Expand(PlanReader.Read(DescribedPlan(dir, data, trigger, hidden: 8))).Single();
        Assert.Equal("tiny-described-mlp", cell.Architecture.Name);
        Assert.Equal(cell.Architecture.Name, cell.Training.Architecture);
        Assert.NotNull(cell.Architecture.Description);

        // Same name, different layer sizes: a different model, so a different cache entry.
        var (dir2, _, _) = TinyPlans.Folder();
        var wider = Grid.Expand(PlanReader.Read(DescribedPlan(dir2, data, trigger, hidden: 9))).Single();
        Assert.Equal(cell.Training, wider.Training);
        Assert.NotEqual(cell.ModelKey, wider.ModelKey);
        Assert.NotEqual(cell.Key, wider.Key);
    }

    [Fact]
    public void RunnerTrainsTheDescribedNetworkAndPurifiesIt()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var plan = PlanReader.Read(DescribedPlan(dir, data, trigger));
        var settings = new RunSettings(Path.Combine(dir, "out"));
        var summary = ExperimentRunner.Run(plan, settings, new NoObserver(), CancellationToken.None);
        Assert.Equal(1, summary.RunNow);

        var line = JsonNode.Parse(File.ReadAllLines(settings.ResultsPath).Single())!.AsObject();
        Assert.Equal("tiny-described-mlp", line["architecture"]!.GetValue<string>());
        var model = ModelCheckpoint.Load(line["model"]!["path"]!.GetValue<string>());
        Assert.NotNull(model.Architecture.Description);
        Assert.Equal([8, 784], model.Parameters["fc1.weight"].Shape.ToArray());
        Assert.InRange(line["acc_after"]!.GetValue<double>(), 0, 100);
    }

    public static TheoryData<string, string, string> BadArchitectures => new()
    {
        { "missing file", """{"description": "nets/none.json"}""", "architectures[0].description" },
        { "name and description", """{"name": "mlp", "description": "nets/mlp.json"}""", "architectures[0]" },
        { "invalid description", """{"description": "nets/bad.json"}""", "architectures[0].description" },
    };

    [Theory]
    [MemberData(nameof(BadArchitectures))]
    public void BadDescriptionIsOneLineExitTwoNamingTheField(string why, string architecture, string field)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var path = DescribedPlan(dir, data, trigger);
        File.WriteAllText(Path.Combine(dir, "nets", "bad.json"), Mlp(8).Replace("\"in_features\": 8", "\"in_features\": 7"));
        var plan = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        plan["architectures"] = new JsonArray(JsonNode.Parse(architecture));
        TinyPlans.Write(dir, plan);

        var run = CliHarness.Run("experiment", "run", path, "--out", Path.Combine(dir, "out"));
        Assert.True(run.ExitCode == 2, $"{why}: exit {run.ExitCode}, {run.Stderr}");
        Assert.Single(run.StderrLines);
        Assert.Contains($"{field}:", run.Stderr);
        Assert.False(Directory.Exists(Path.Combine(dir, "out")), why);
    }

    private sealed class NoObserver : IExperimentObserver;
}
