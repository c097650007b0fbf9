using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;

namespace Circumvent.Tests.Experiments;

/// <summary>
/// An attack's own <c>poison_rates</c> replace the plan's for that attack alone (Narcissus and SAPA are published at
/// 1% and below while the other attacks run at 5%), and a bad one is named by its place in the plan.
/// </summary>
public class PlanAttackRatesTests
{
    [Fact]
    public void AnAttacksOwnRatesReplaceThePlansForItOnly()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["poison_rates"] = new JsonArray(0.1, 0.05);
        document["attacks"]![1]!["poison_rates"] = new JsonArray(0.01);
        var cells = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, document))).Where(c => c.Defense.Name == "none").ToList();

        Assert.Equal([0.1, 0.05], cells.Where(c => c.Attack.Label == "badnet").Select(c => c.PoisonRate));
        var blended = Assert.Single(cells, c => c.Attack.Label == "blended");
        Assert.Equal(0.01, blended.PoisonRate);
        Assert.Equal(0.01, blended.AttackDefinition.PoisonRate);
        Assert.False(blended.Attack.Fields.ContainsKey("poison_rates")); // not an AttackDefinition field
        Assert.Equal([0, 3, 6], cells.Select(c => c.Index)); // three models, each followed by its three defences
    }

    [Theory]
    [InlineData("[]", "attacks[1].poison_rates: missing or empty")]
    [InlineData("[0.01, 1.5]", "attacks[1].poison_rates[1]: a poisoning rate must be in (0, 1), got 1.5")]
    [InlineData("0.01", "attacks[1].poison_rates: missing or empty; expected a non-empty list")]
    public void ABadOwnRateIsNamedByItsPlace(string rates, string expected)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"]![1]!["poison_rates"] = JsonNode.Parse(rates);
        var error = Assert.Throws<PlanException>(() => PlanReader.Read(TinyPlans.Write(dir, document)));
        Assert.Contains(expected, error.Message);
    }
}
