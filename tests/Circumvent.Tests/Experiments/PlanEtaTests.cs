using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;

namespace Circumvent.Tests.Experiments;

public class PlanEtaTests
{
    // TinyPlans' grid: badnet × {none, ft, tsc}, then blended × {none, ft, tsc}; one model per attack.
    private static IReadOnlyList<Cell> Cells()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        return Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, TinyPlans.Plan(data, trigger))));
    }

    private static JsonObject Line(Cell cell, double wall, double training, bool trainedNow, int resumed = 0) => new()
    {
        ["key"] = cell.Key,
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
        var cells = Cells();
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
}
