using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// Where a curve fit or a fine-tuning keeps its progress — what it trains and the optimiser (a
/// <see cref="TrainingStateFile"/>, written after an epoch at most once per save interval and when the
/// fit ends or is stopped) — so a run stopped by Ctrl+C or SIGTERM continues from its last finished
/// epoch with the result an uninterrupted run gives.
/// </summary>
/// <param name="Path">The state file.</param>
/// <param name="RunKey">Everything the run depends on; a state saved under another key is refused, never mixed in.</param>
/// <param name="Saving">The save interval and byte count (null: <see cref="ProgressSaving.FromEnvironment"/>).</param>
/// <param name="InputDigest">What the run's inputs hold, so a state whose key differs only in where they are resumes
/// (<see cref="TrainingStateFile.InputDigest"/>); null: the key alone decides.</param>
/// <param name="EarlierKey">The key as an earlier build wrote it for the same run (<see cref="TrainingStateFile.EarlierKey"/>).</param>
public sealed record EpochCheckpoint(string Path, string RunKey, ProgressSaving? Saving = null, Func<string>? InputDigest = null, string? EarlierKey = null)
{
    /// <summary>The bends a curve fit trains, as "start/NAME", "middle/NAME", "end/NAME" (the curve's own tensors).</summary>
    internal TrainingStateFile ForCurve(BezierCurve curve)
    {
        var bends = new ParameterSet();
        void AddAll(string prefix, ParameterSet set)
        {
            foreach (var entry in set.Parameters) bends.Add(prefix + entry.Name, entry.Tensor, TensorRole.Parameter);
        }
        if (curve.TrainsEndpoints) AddAll("start/", curve.Start);
        AddAll("middle/", curve.Middle);
        if (curve.TrainsEndpoints) AddAll("end/", curve.End);
        return new TrainingStateFile(Path, bends, null, RunKey, saving: Saving) { InputDigest = InputDigest, EarlierKey = EarlierKey };
    }

    /// <summary>A model being fine-tuned: its parameters, BN running statistics and their batch counts.</summary>
    internal TrainingStateFile ForModel(ParameterSet parameters, RunningStatsUpdater batchNormStats) =>
        new(Path, parameters, batchNormStats, RunKey, saving: Saving) { InputDigest = InputDigest, EarlierKey = EarlierKey };

    /// <summary>
    /// Tensors that are not a model (a trigger's mask and pattern, neuron masks), with the state of the objective that
    /// trains them (<paramref name="objectiveState"/>, e.g. Neural Cleanse's cost schedule; null when it keeps none).
    /// </summary>
    internal TrainingStateFile ForTensors(ParameterSet trained, TrainingStatePart? objectiveState) =>
        new(Path, trained, null, RunKey, objectiveState is null ? null : [objectiveState], Saving) { InputDigest = InputDigest, EarlierKey = EarlierKey };

    /// <summary>Removes the state once the run's result is saved elsewhere.</summary>
    public void Delete() => File.Delete(Path);
}
