namespace Circumvent.Engine.Optim;

/// <summary>
/// What an optimiser carries from step to step, to save a run and continue it exactly: its step count
/// and its per-parameter buffers by name ("momentum.3": SGD's momentum of parameter 3; "exp_avg.3",
/// "exp_avg_sq.3": Adam's moments). A parameter that has not been stepped yet has no buffers.
/// </summary>
public sealed record OptimizerState(long Steps, IReadOnlyDictionary<string, float[]> Buffers);
