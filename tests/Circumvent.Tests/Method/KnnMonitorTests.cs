using Circumvent.Engine;
using Circumvent.Method.Evaluation;

namespace Circumvent.Tests.Method;

/// <summary>The weighted kNN monitor on constructed features whose answer is known.</summary>
public class KnnMonitorTests
{
    // Unit vectors at the given angles (degrees) in the plane; lengths vary to show features are normalised.
    private static Tensor AtAngles(params double[] degrees) =>
        Tensor.FromArray([.. degrees.SelectMany((d, i) => new[] { (float)((i + 1) * Math.Cos(d * Math.PI / 180)), (float)((i + 1) * Math.Sin(d * Math.PI / 180)) })], degrees.Length, 2);

    [Fact]
    public void CloseNeighboursOutweighAMajorityFurtherAway()
    {
        // Memory: one class-1 point at 0°, three class-0 points at ±60° and 70°. A query at 0° with k = 4 has
        // three class-0 neighbours (cos 0.5, 0.5, 0.34) and one class-1 (cos 1): at T = 0.1, e^10 ≈ 22026
        // beats e^5 + e^5 + e^3.4 ≈ 327, though a plain majority vote would say class 0.
        var memory = new LabelledFeatures(AtAngles(0, 60, -60, 70), [1, 0, 0, 0]);
        Assert.Equal([1], KnnMonitor.Predict(memory, AtAngles(0), classes: 2, k: 4, temperature: 0.1f));
        // At T = 10 the weights are nearly equal, so the majority wins.
        Assert.Equal([0], KnnMonitor.Predict(memory, AtAngles(0), classes: 2, k: 4, temperature: 10f));
        // With k = 1 only the nearest counts; k larger than the memory uses all of it.
        Assert.Equal([0], KnnMonitor.Predict(memory, AtAngles(65), classes: 2, k: 1));
        Assert.Equal([1], KnnMonitor.Predict(memory, AtAngles(0), classes: 2, k: 200));
    }

    [Fact]
    public void OnlyTheKNearestVote()
    {
        // Query at 0°: nearest two are class 2 (10°, −10°); the five class-0 points at 90°..180° are further.
        var memory = new LabelledFeatures(AtAngles(10, -10, 90, 120, 150, 170, 180), [2, 2, 0, 0, 0, 0, 0]);
        Assert.Equal([2], KnnMonitor.Predict(memory, AtAngles(0), classes: 3, k: 2, temperature: 100f));
        Assert.Equal([0], KnnMonitor.Predict(memory, AtAngles(0), classes: 3, k: 7, temperature: 100f));
    }

    [Fact]
    public void AccuracyCountsCorrectQueries()
    {
        var memory = new LabelledFeatures(AtAngles(0, 5, 180, 175), [0, 0, 1, 1]);
        var query = new LabelledFeatures(AtAngles(2, 178, 90.5, 3), [0, 1, 1, 1]); // the last is wrong; 90.5° is nearer class 1
        Assert.Equal(0.75, KnnMonitor.Accuracy(memory, query, classes: 2, k: 2));
    }

    [Fact]
    public void ManyQueriesAgreeWithABruteForceVote()
    {
        // 600 queries (more than one chunk) against 50 memory points in 4 dimensions, 3 classes.
        var rng = new Random(9);
        var memory = new LabelledFeatures(Tensor.Randn(rng, 50, 4), [.. Enumerable.Range(0, 50).Select(i => i % 3)]);
        var queries = Tensor.Randn(rng, 600, 4);
        var predicted = KnnMonitor.Predict(memory, queries, classes: 3, k: 7, temperature: 0.1f);
        double[] Unit(Tensor t, int row) { var v = t.ToArray().Skip(row * 4).Take(4).Select(x => (double)x).ToArray(); double l = Math.Sqrt(v.Sum(x => x * x)); return [.. v.Select(x => x / l)]; }
        for (int q = 0; q < 600; q++)
        {
            var query = Unit(queries, q);
            var nearest = Enumerable.Range(0, 50).Select(j => (j, s: Unit(memory.Features, j).Zip(query, (a, b) => a * b).Sum())).OrderByDescending(p => p.s).Take(7);
            var votes = new double[3];
            foreach (var (j, sim) in nearest) votes[memory.Labels[j]] += Math.Exp(sim / 0.1);
            Assert.Equal(Array.IndexOf(votes, votes.Max()), predicted[q]);
        }
    }
}
