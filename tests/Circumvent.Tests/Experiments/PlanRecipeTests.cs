using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;

namespace Circumvent.Tests.Experiments;

/// <summary>A plan's "training": {"recipe": "airbench", …}: the preset fills in, the plan's own fields win.</summary>
public class PlanRecipeTests
{
    [Fact]
    public void RecipeFillsTheTrainingConfigAndThePlansFieldsWin()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["training"] = new JsonObject { ["recipe"] = "airbench", ["epochs"] = 2, ["batch_size"] = 512 };
        var training = PlanReader.Read(TinyPlans.Write(dir, document)).Training;
        Assert.Equal(("airbench", 2.0, 512, "triangle", 0.4, 5), (training.Recipe, training.Epochs, training.BatchSize, training.Schedule,
            training.BatchNormMomentum, training.LookaheadEvery));
        Assert.Equal(0.75, training.LearningRate, 12); // the preset's rate at the plan's batch size

        document["training"] = new JsonObject { ["recipe"] = "fast" };
        var error = Assert.ThrowsAny<Exception>(() => PlanReader.Read(TinyPlans.Write(dir, document)));
        Assert.Contains("training.recipe", error.Message);
    }
}
