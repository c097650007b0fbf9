using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;

namespace Circumvent.Tests.Experiments;

public class PlanEtaTests
{
    private static JsonObject Line(Cell cell, double wall, double training, bool trainedNow, int resumed = 0) => new()
    {
        ["key"] = cell.Key,
        ["attack"] = cell.Attack.Label,
        ["defense"] = cell.Defense.Label,
        ["wall_time_seconds"] = wall,
        ["units_resumed"] = resumed,
        ["model"] = new JsonObject
        {
            ["key"] = cell.ModelKey,
            ["training"] = new JsonObject { ["seconds"] = training, ["trained_now"] = trainedNow },
        },
    };

    [Fact]
    public void SumsEachPendingCellsDefenceCostAndEachModelStillToTrain()
    {
        var cells = TinyPlans.Cells();
        var eta = new PlanEta();
        Assert.Null(eta.Remaining(cells, _ => false, parallel: 1)); // nothing to learn from yet

        eta.Add(Line(cells[0], wall: 405, training: 400, trainedNow: true)); // badnet · none: 5 s once the model is there
        eta.Add(Line(cells[1], wall: 100, training: 400, trainedNow: false)); // badnet · ft
        eta.Add(Line(cells[2], wall: 300, training: 400, trainedNow: false, resumed: 2)); // badnet · tsc, resumed: not a whole cell

        // Pending: blended × {none, ft, tsc}, its model not trained yet. TSC has no whole cell, so it gets
        // the mean over the defences seen: (5 + 100) / 2.
        var left = eta.Remaining(cells.Skip(3), _ => false, parallel: 1)!.Value;
        Assert.Equal(5 + 100 + 52.5 + 400, left.TotalSeconds, 6);
        // The model already in the cache; two cells at a time.
        Assert.Equal((5 + 100 + 52.5) / 2, eta.Remaining(cells.Skip(3), _ => true, parallel: 2)!.Value.TotalSeconds, 6);
    }

    /// <summary>
    /// With "qra": true every recipe also trains one clean model (shared by its attacks and defences): the cell that trained
    /// it does not count that time as its defence's, and a pending recipe whose clean model is not cached adds it once.
    /// </summary>
    [Fact]
    public void CountsAQraCleanModelStillToTrainOncePerRecipe()
    {
        var cells = TinyPlans.Cells(qra: true);
        string cleanKey = Assert.Single(cells.Select(c => c.CleanModelKey).Distinct());
        var eta = new PlanEta();
        var first = Line(cells[0], wall: 705, training: 400, trainedNow: true); // badnet · none: 5 s after both models
        first["clean_model"] = new JsonObject
        {
            ["key"] = cleanKey,
            ["training"] = new JsonObject { ["seconds"] = 300.0, ["trained_now"] = true },
        };
        eta.Add(first);
        eta.Add(Line(cells[1], wall: 100, training: 400, trainedNow: false)); // badnet · ft

        // Pending blended × {none, ft, tsc}: defences 5 + 100 + 52.5, its backdoored model 400, the recipe's clean model
        // 300 (once, not once per cell).
        Assert.Equal(5 + 100 + 52.5 + 400 + 300, eta.Remaining(cells.Skip(3), _ => false, parallel: 1)!.Value.TotalSeconds, 6);
        // The clean model cached but not the backdoored one, and the other way round.
        Assert.Equal(5 + 100 + 52.5 + 400, eta.Remaining(cells.Skip(3), key => key == cleanKey, parallel: 1)!.Value.TotalSeconds, 6);
        Assert.Equal(5 + 100 + 52.5 + 300, eta.Remaining(cells.Skip(3), key => key != cleanKey, parallel: 1)!.Value.TotalSeconds, 6);
    }

    /// <summary>Before any clean model has been trained, one is expected to take as long as a backdoored model of its recipe.</summary>
    [Fact]
    public void ACleanModelNotSeenYetCostsWhatABackdooredOneDid()
    {
        var cells = TinyPlans.Cells(qra: true);
        var eta = new PlanEta();
        eta.Add(Line(cells[1], wall: 100, training: 400, trainedNow: false));
        Assert.Equal(3 * 100 + 400 + 400, eta.Remaining(cells.Skip(3), _ => false, parallel: 1)!.Value.TotalSeconds, 6);
    }

    /// <summary>
    /// Attacks' models differ in cost by hours (CTRL's poisoned pre-training against a BadEncoder's fine-tuning): a model
    /// still to train is expected to take what its own attack's models took, and the mean over all only before one is seen.
    /// </summary>
    [Fact]
    public void AModelStillToTrainCostsWhatItsAttacksModelsTook()
    {
        var cells = TinyPlans.Cells(); // badnet × {none, ft, tsc}, then blended × the same
        var eta = new PlanEta();
        eta.Add(Line(cells[0], wall: 405, training: 400, trainedNow: true)); // badnet's model: 400 s
        eta.Add(Line(cells[3], wall: 1005, training: 1000, trainedNow: true)); // blended's model: 1,000 s
        eta.Add(Line(cells[1], wall: 100, training: 400, trainedNow: false));
        // Blended's cells again (its model gone from the cache): 1,000 s for the model, not the mean 700. Defences: none 5,
        // ft 100, tsc unseen so the mean over the three whole cells, (5 + 5 + 100) / 3.
        double defences = 5 + 100 + 110.0 / 3;
        Assert.Equal(defences + 1000, eta.Remaining(cells.Skip(3), _ => false, parallel: 1)!.Value.TotalSeconds, 6);
        Assert.Equal(defences + 400, eta.Remaining(cells.Take(3), _ => false, parallel: 1)!.Value.TotalSeconds, 6);

        // An attack never seen: the mean over the models seen.
        var unseen = new PlanEta();
        unseen.Add(Line(cells[0], wall: 405, training: 400, trainedNow: true));
        Assert.Equal(5 + 5 + 5 + 400, unseen.Remaining(cells.Skip(3), _ => false, parallel: 1)!.Value.TotalSeconds, 6);
    }
}
