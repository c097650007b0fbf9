using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;

namespace Circumvent.Tests.Experiments;

/// <summary>
/// The runner's queue: two workers do not start on cells that need the same model still being trained while a cell that
/// does not is waiting (the second would only wait on the first's training lock); one worker runs the plan in order.
/// </summary>
public class CellQueueTests
{
    private static Cell Take(CellQueue queue)
    {
        Assert.True(queue.TryTake(out var cell));
        return cell;
    }

    [Fact]
    public void ASecondWorkerStartsTheNextModelRatherThanWaitOnTheFirst()
    {
        var cells = TinyPlans.Cells();
        var queue = new CellQueue(cells, cached: _ => false);
        Assert.Equal(0, Take(queue).Index); // badnet · none trains badnet's model
        Assert.Equal(3, Take(queue).Index); // blended · none trains blended's at the same time, not badnet · ft
        Assert.Equal(1, Take(queue).Index); // both models are being trained: the plan's order, waiting on one of them
    }

    [Fact]
    public void AFinishedCellsModelNoLongerHoldsItsOtherCellsBack()
    {
        var cells = TinyPlans.Cells();
        var trained = new HashSet<string>();
        var queue = new CellQueue(cells, cached: trained.Contains);
        var first = Take(queue);
        Assert.Equal(3, Take(queue).Index);
        trained.Add(first.ModelKey);
        queue.Done(first);
        Assert.Equal(1, Take(queue).Index);
    }

    [Fact]
    public void CachedModelsKeepThePlansOrder()
    {
        var cells = TinyPlans.Cells();
        var queue = new CellQueue(cells, cached: _ => true);
        Assert.Equal([0, 1, 2, 3, 4, 5], Enumerable.Range(0, 6).Select(_ => Take(queue).Index));
        Assert.False(queue.TryTake(out _));
    }

    [Fact]
    public void OneWorkerRunsThePlanInOrder()
    {
        var cells = TinyPlans.Cells();
        var queue = new CellQueue(cells, cached: _ => false);
        var order = new List<int>();
        while (queue.TryTake(out var cell))
        {
            order.Add(cell.Index);
            queue.Done(cell);
        }
        Assert.Equal([0, 1, 2, 3, 4, 5], order);
    }

    /// <summary>With QRA every attack also needs the recipe's one clean model: the second worker still prefers the cell
    /// that waits on one model in training (blended's run trains its own first) over one that waits on two.</summary>
    [Fact]
    public void WithQraTheSecondWorkerWaitsOnTheFewestModels()
    {
        var cells = TinyPlans.Cells(qra: true);
        Assert.Equal([cells[0].ModelKey, cells[0].CleanModelKey], cells[0].TrainedModelKeys);
        var queue = new CellQueue(cells, cached: _ => false);
        Assert.Equal(0, Take(queue).Index);
        Assert.Equal(3, Take(queue).Index);
    }

    [Fact]
    public void AnEncoderCellTrainsItsCleanEncoderUnlessGivenAFileAndItsAttackedEncoderUnlessUnattacked()
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        var document = TinyEncoderPlans.Plan(cifar, reference);
        document["attacks"]!.AsArray().Add("none");
        var pretrained = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, document)));
        var attacked = pretrained.First(c => c.Attack.Encoder!.Kind != EncoderAttack.None);
        var unattacked = pretrained.First(c => c.Attack.Encoder!.Kind == EncoderAttack.None);
        Assert.Equal([attacked.CleanEncoderKey, attacked.ModelKey], attacked.TrainedModelKeys);
        Assert.Equal([unattacked.CleanEncoderKey], unattacked.TrainedModelKeys);

        document["encoder"] = new JsonObject { ["file"] = Path.Combine(dir, "clean.safetensors") };
        var given = Grid.Expand(PlanReader.Read(TinyPlans.Write(dir, document), requireMadeInputs: false));
        Assert.Equal([given.First(c => c.Attack.Encoder!.Kind != EncoderAttack.None).ModelKey],
            given.First(c => c.Attack.Encoder!.Kind != EncoderAttack.None).TrainedModelKeys);
        Assert.Empty(given.First(c => c.Attack.Encoder!.Kind == EncoderAttack.None).TrainedModelKeys);
    }
}
