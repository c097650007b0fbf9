using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data.Formats;
using Circumvent.Experiments.Plans;

namespace Circumvent.Tests.Experiments;

public class PlanSblNarcissusTests
{
    [Fact]
    public void NarcissusAndSblAreGridEntriesWithTheirOwnModels()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        Npy.Write(Path.Combine(dir, "narcissus.npy"), [1, 1, 28, 28], new float[28 * 28]);
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(
            new JsonObject { ["kind"] = "badnet", ["target"] = 0 },
            new JsonObject { ["kind"] = "badnet", ["target"] = 0, ["sbl"] = new JsonObject { ["clean_epochs"] = 2, ["rho"] = 0.1 } },
            new JsonObject { ["kind"] = "narcissus", ["target"] = 2, ["trigger_image"] = "narcissus.npy" });
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        Assert.Equal(["badnet", "badnet+sbl", "narcissus"], plan.Attacks.Select(a => a.Label));
        var cells = Grid.Expand(plan).Where(c => c.Defense.Name == "none").ToList();
        Assert.Equal(3, cells.Select(c => c.ModelKey).Distinct().Count());
        Assert.Null(cells[0].AttackDefinition.Sbl);
        Assert.Equal(new SblSchedule { CleanEpochs = 2, Rho = 0.1 }, cells[1].AttackDefinition.Sbl);
        Assert.Equal(Path.Combine(dir, "narcissus.npy"), cells[2].AttackDefinition.TriggerImage); // relative to the plan
        Assert.Equal(3, cells[2].AttackDefinition.TestAmplification);
    }

    [Theory]
    [InlineData("""{"kind": "badnet", "sbl": {"clean_epoch": 2}}""", "clean_epoch")]
    [InlineData("""{"kind": "badnet", "sbl": {"rho": -1}}""", "--sbl-rho")]
    [InlineData("""{"kind": "input-aware", "sbl": {}}""", "input-aware")]
    [InlineData("""{"kind": "badnet", "test_amplification": 3}""", "attacks[0].test_amplification")]
    public void BadSblOrNarcissusFieldsNameTheAttack(string attack, string expected)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(JsonNode.Parse(attack));
        var error = Assert.Throws<PlanException>(() => PlanReader.Read(TinyPlans.Write(dir, document)));
        Assert.Contains("attacks[0]", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
