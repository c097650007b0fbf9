using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;
using Circumvent.Tests.Data;

namespace Circumvent.Tests.Experiments;

/// <summary>A plan whose dataset is a user's image folder, given relative to the plan file.</summary>
public class ImageFolderPlanTests
{
    private sealed class NoObserver : IExperimentObserver;

    [Fact]
    public void APlanTrainsAttacksAndDefendsOnAnImageFolder()
    {
        var (dir, _, trigger) = TinyPlans.Folder();
        SyntheticImageFolder.Write(Path.Combine(dir, "pets"), ["cats", "dogs"], trainPerClass: 10, testPerClass: 5, size: 12);
        var document = TinyPlans.Plan("imagefolder:pets", trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 1, ["patch_size"] = 2 });
        document["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 5 });
        document["training"] = new JsonObject { ["epochs"] = 1, ["batch_size"] = 5 };
        document["clean_fraction"] = 0.5;
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        Assert.Equal("imagefolder:" + Path.Combine(dir, "pets"), Assert.Single(plan.Datasets));

        var settings = new RunSettings(Path.Combine(dir, "out"));
        Assert.Equal(2, ExperimentRunner.Run(plan, settings, new NoObserver(), CancellationToken.None).RunNow);
        var lines = File.ReadAllLines(settings.ResultsPath).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(["none", "ft"], lines.Select(l => l["defense"]!.GetValue<string>()));
        Assert.All(lines, l => Assert.InRange(l["acc_after"]!.GetValue<double>(), 0, 100));
    }
}
