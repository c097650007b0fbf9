namespace Circumvent.Method.Defenses.Anp;

/// <summary>Accuracy on D of the model pruned at one threshold.</summary>
public sealed record ThresholdTrial(double Threshold, int Pruned, double Accuracy);

/// <summary>
/// Which pruning threshold ANP keeps, decided on the clean defence set D alone. BackdoorBench keeps, among the thresholds
/// whose relative ACC drop on the test set is below acc_ratio, the one with the lowest test ASR — that needs the test set
/// and the trigger, which no defence here may see. We keep the largest threshold (the most pruning, ANP's lever against
/// the backdoor) whose relative accuracy change on D, against the unpruned model's accuracy on D, is below the same ratio
/// in size (BackdoorBench takes abs(acc − acc₀)/acc₀, so a gain of that size is refused too).
/// </summary>
public static class PruningThreshold
{
    /// <returns>The chosen trial, or null when no threshold keeps the accuracy (then nothing is pruned).</returns>
    public static ThresholdTrial? Choose(IReadOnlyList<ThresholdTrial> trials, double baseAccuracy, double maxRelativeDrop) =>
        trials.Where(t => baseAccuracy <= 0 || Math.Abs(baseAccuracy - t.Accuracy) / baseAccuracy < maxRelativeDrop)
            .OrderByDescending(t => t.Threshold)
            .FirstOrDefault();
}
