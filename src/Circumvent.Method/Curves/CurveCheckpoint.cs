using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// Where a curve fit keeps its progress after every epoch — the bends it trains ("start/NAME",
/// "middle/NAME", "end/NAME") and the optimiser — so a fit stopped by a crash or Ctrl+C continues
/// from its last finished epoch with the result an uninterrupted fit gives (a <see cref="TrainingStateFile"/>).
/// </summary>
/// <param name="Path">The state file.</param>
/// <param name="RunKey">Everything the fit depends on; a state saved under another key is refused, never mixed in.</param>
public sealed record CurveCheckpoint(string Path, string RunKey)
{
    internal TrainingStateFile For(BezierCurve curve)
    {
        var bends = new ParameterSet();
        void AddAll(string prefix, ParameterSet set)
        {
            foreach (var entry in set.Parameters) bends.Add(prefix + entry.Name, entry.Tensor, TensorRole.Parameter);
        }
        if (curve.TrainsEndpoints) AddAll("start/", curve.Start);
        AddAll("middle/", curve.Middle);
        if (curve.TrainsEndpoints) AddAll("end/", curve.End);
        return new TrainingStateFile(Path, bends, null, RunKey);
    }

    /// <summary>Removes the state once the fit's result is saved elsewhere.</summary>
    public void Delete() => File.Delete(Path);
}
