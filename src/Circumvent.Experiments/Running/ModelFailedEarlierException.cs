namespace Circumvent.Experiments.Running;

/// <summary>
/// A cell's model failed to train in an earlier cell of the same run (with --keep-going), so this cell is not tried:
/// training it again would fail the same way. <see cref="Exception.InnerException"/> is that failure.
/// </summary>
public sealed class ModelFailedEarlierException(string model, Exception cause)
    : Exception($"its {model} failed to train earlier in this run: {cause.Message}", cause)
{
    /// <summary>Which model, e.g. "backdoored model 8bc326f0f8b13519".</summary>
    public string Model { get; } = model;
}
