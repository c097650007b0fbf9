using Circumvent.Engine.Optim;

namespace Circumvent.Training;

/// <summary>
/// Where a <see cref="Trainer"/> keeps its progress between epochs, so that a run stopped by a crash or
/// Ctrl+C continues from its last finished epoch instead of starting over (see <see cref="TrainingStateFile"/>).
/// </summary>
public interface ITrainingState
{
    /// <summary>Loads the saved progress into the run's parameters and <paramref name="optimizer"/>; returns the epochs already done (0 when nothing was saved).</summary>
    int Restore(IOptimizer optimizer);

    /// <summary>Records the progress after <paramref name="epochsDone"/> epochs: written now, or kept in memory until the next write or <see cref="Flush"/> (see <see cref="ProgressSaving"/>).</summary>
    void Save(int epochsDone, IOptimizer optimizer);

    /// <summary>Writes the progress kept in memory, if any. Training loops call it when they end, finished or stopped.</summary>
    void Flush();
}
