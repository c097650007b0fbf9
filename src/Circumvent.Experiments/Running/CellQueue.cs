using Circumvent.Experiments.Plans;

namespace Circumvent.Experiments.Running;

/// <summary>
/// The cells still to run, handed out to the runner's workers in plan order, except that a worker is not given a cell
/// that needs a model another worker's cell is training while some other cell does not: it would only wait on that
/// training's lock. With one worker the order is the plan's. (E.g. two workers on [A·none, A·tsc, B·none, …] with A's
/// model not cached start A·none and B·none, and train both models at once.)
/// </summary>
/// <param name="cached">Whether the cache already holds the model of a key.</param>
internal sealed class CellQueue(IEnumerable<Cell> cells, Func<string, bool> cached)
{
    private readonly List<Cell> _waiting = [.. cells];
    // Cell index → the keys of models its run trains or waits for (those not cached when it was taken).
    private readonly Dictionary<int, string[]> _inProgress = [];
    private readonly Lock _gate = new();

    /// <summary>The next cell: the first in plan order with the fewest models in training by other workers.</summary>
    public bool TryTake(out Cell cell)
    {
        lock (_gate)
        {
            cell = null!;
            if (_waiting.Count == 0) return false;
            var training = _inProgress.Values.SelectMany(keys => keys).ToHashSet(StringComparer.Ordinal);
            int best = 0, bestWaits = int.MaxValue;
            for (int i = 0; i < _waiting.Count && bestWaits > 0; i++)
            {
                int waits = _waiting[i].TrainedModelKeys.Count(training.Contains);
                if (waits < bestWaits) (best, bestWaits) = (i, waits);
            }
            cell = _waiting[best];
            _waiting.RemoveAt(best);
            _inProgress[cell.Index] = [.. cell.TrainedModelKeys.Where(key => !cached(key))];
            return true;
        }
    }

    /// <summary>The cell finished or failed: the models it trained no longer hold other cells back.</summary>
    public void Done(Cell cell)
    {
        lock (_gate) _inProgress.Remove(cell.Index);
    }
}
