using Circumvent.Engine.Optim;

namespace Circumvent.Training;

/// <summary>
/// Where a <see cref="TrainingLoop"/> keeps its progress, so that a run stopped by a crash, Ctrl+C or SIGTERM continues
/// from its last saved step instead of starting over (see <see cref="TrainingStateFile"/>). Saved at every epoch's end,
/// and inside an epoch when the loop can resume there exactly (<see cref="TrainingLoop"/>).
/// </summary>
public interface ITrainingState
{
    /// <summary>Loads the saved progress into the run's parameters and <paramref name="optimizer"/>; returns where it stopped (<see cref="TrainingPosition.Start"/> when nothing was saved).</summary>
    TrainingPosition Restore(IOptimizer optimizer);

    /// <summary>Records the progress at <paramref name="position"/>: written now when a write is due, otherwise kept in memory until the next write or <see cref="Flush"/> (see <see cref="ProgressSaving"/>).</summary>
    void Save(TrainingPosition position, IOptimizer optimizer);

    /// <summary>True when a <see cref="Save"/> now would write the file (the save interval has passed since the last write).</summary>
    bool IsDue { get; }

    /// <summary>Writes the progress kept in memory, if any. Training loops call it when they end, finished or stopped.</summary>
    void Flush();
}

/// <summary>
/// Where a run stands: <paramref name="EpochsDone"/> finished epochs and <paramref name="BatchesDone"/> steps of the next
/// one, with that epoch's running sums so its mean loss and accuracy come out as if it had not been stopped.
/// </summary>
/// <param name="LossSum">Σ loss × batch size over the epoch's steps done.</param>
/// <param name="Seen">Images in those steps.</param>
/// <param name="Scored">Of them, images the objective gave logits for (accuracy's denominator).</param>
/// <param name="Correct">Of those, images classified right.</param>
public readonly record struct TrainingPosition(int EpochsDone, int BatchesDone = 0, double LossSum = 0, long Seen = 0, long Scored = 0, long Correct = 0)
{
    public static TrainingPosition Start => default;

    /// <summary>The position after <paramref name="epochs"/> whole epochs.</summary>
    public static TrainingPosition AfterEpochs(int epochs) => new(epochs);

    public bool InsideEpoch => BatchesDone > 0;
}
