namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// The outcome of Neural Cleanse's outlier test over the per-class trigger norms.
/// </summary>
/// <param name="L1">The L1 norm of each class's reversed mask, by class.</param>
/// <param name="Median">Median of <paramref name="L1"/> (the lower middle value for an even count, as torch.median).</param>
/// <param name="Mad">1.4826 × the median absolute deviation from <paramref name="Median"/>: a consistent estimate of σ.</param>
/// <param name="Index">|L1 − median| / Mad per class (+∞ for a class off the median when Mad is 0).</param>
/// <param name="Flagged">Classes with L1 below the median and an index above the threshold, in class order.</param>
public sealed record AnomalyReport(IReadOnlyList<double> L1, double Median, double Mad, IReadOnlyList<double> Index, IReadOnlyList<int> Flagged)
{
    /// <summary>The anomaly index of the smallest trigger: the number Neural Cleanse reports per model.</summary>
    public double MinIndex => Index[L1.Select((v, i) => (v, i)).MinBy(p => p.v).i];
}

/// <summary>Neural Cleanse's MAD outlier test (BackdoorBench's `outlier_detection`).</summary>
public static class AnomalyIndex
{
    /// <summary>Scales the MAD of normal data to its standard deviation.</summary>
    public const double Consistency = 1.4826;

    public static AnomalyReport Detect(IReadOnlyList<double> l1, double threshold)
    {
        if (l1.Count == 0) throw new ArgumentException("The anomaly index needs at least one class's trigger norm.");
        double median = LowerMedian(l1);
        double mad = Consistency * LowerMedian([.. l1.Select(v => Math.Abs(v - median))]);
        var index = l1.Select(v => Math.Abs(v - median) is var d && mad > 0 ? d / mad : d > 0 ? double.PositiveInfinity : 0).ToArray();
        var flagged = Enumerable.Range(0, l1.Count).Where(c => l1[c] < median && index[c] > threshold).ToArray();
        return new AnomalyReport(l1.ToArray(), median, mad, index, flagged);
    }

    /// <summary>
    /// The median as torch.median computes it: for an even count the lower of the two middle values, not their mean.
    /// NOTE: the original NC (np.median) averages them; BackdoorBench's port, whose defaults we follow, does not.
    /// </summary>
    public static double LowerMedian(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[(sorted.Length - 1) / 2];
    }
}
