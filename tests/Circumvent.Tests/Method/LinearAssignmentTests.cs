using System.Diagnostics;
using Circumvent.Method.Permutations;
using Xunit.Abstractions;

namespace Circumvent.Tests.Method;

public class LinearAssignmentTests(ITestOutputHelper output)
{
    private static double Total(double[] m, int n, int[] assignment)
    {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += m[i * n + assignment[i]];
        return sum;
    }

    private static void AssertPermutation(int[] assignment, int n)
    {
        Assert.Equal(n, assignment.Length);
        Assert.Equal(Enumerable.Range(0, n), assignment.Order());
    }

    /// <summary>Best total over all n! permutations (Heap's algorithm).</summary>
    private static double BruteForce(double[] m, int n, bool maximize)
    {
        var p = Enumerable.Range(0, n).ToArray();
        var counters = new int[n];
        double best = Total(m, n, p);
        int i = 0;
        while (i < n)
        {
            if (counters[i] < i)
            {
                if (i % 2 == 0) (p[0], p[i]) = (p[i], p[0]);
                else (p[counters[i]], p[i]) = (p[i], p[counters[i]]);
                double total = Total(m, n, p);
                best = maximize ? Math.Max(best, total) : Math.Min(best, total);
                counters[i]++;
                i = 0;
            }
            else
            {
                counters[i] = 0;
                i++;
            }
        }
        return best;
    }

    private static double[] RandomMatrix(Random rng, int n, bool integers)
    {
        var m = new double[n * n];
        // Small integers create many ties; wide-range doubles exercise the general case.
        for (int k = 0; k < m.Length; k++) m[k] = integers ? rng.Next(0, 5) : (rng.NextDouble() - 0.5) * 200;
        return m;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MatchesBruteForceForEverySizeUpToEight(bool maximize)
    {
        var rng = new Random(maximize ? 11 : 12);
        for (int n = 1; n <= 8; n++)
        {
            int trials = n <= 6 ? 60 : 15;
            for (int trial = 0; trial < trials; trial++)
            {
                var m = RandomMatrix(rng, n, integers: trial % 3 == 0);
                var assignment = LinearAssignment.Solve(m, n, maximize);
                AssertPermutation(assignment, n);
                double expected = BruteForce(m, n, maximize);
                Assert.True(Math.Abs(Total(m, n, assignment) - expected) <= 1e-9 * Math.Max(1, Math.Abs(expected)),
                    $"n={n} trial={trial} maximize={maximize}: got {Total(m, n, assignment)}, optimum {expected}");
            }
        }
    }

    [Fact]
    public void MaximizeIsMinimizeOfTheNegation()
    {
        var rng = new Random(3);
        var m = RandomMatrix(rng, 7, integers: false);
        var negated = m.Select(x => -x).ToArray();
        Assert.Equal(Total(m, 7, LinearAssignment.Solve(m, 7, maximize: true)),
                     -Total(negated, 7, LinearAssignment.Solve(negated, 7, maximize: false)), 9);
    }

    [Fact]
    public void KnownSmallProblem()
    {
        // Rows pick columns 1, 0, 2 for cost 1 + 2 + 2 = 5 (the classic SciPy example).
        double[] m = [4, 1, 3, 2, 0, 5, 3, 2, 2];
        Assert.Equal(new[] { 1, 0, 2 }, LinearAssignment.Solve(m, 3, maximize: false));
        Assert.Equal(11, Total(m, 3, LinearAssignment.Solve(m, 3, maximize: true)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AllEqualMatrixGivesAPermutation(bool maximize)
    {
        const int n = 9;
        var m = Enumerable.Repeat(2.5, n * n).ToArray();
        var assignment = LinearAssignment.Solve(m, n, maximize);
        AssertPermutation(assignment, n);
        Assert.Equal(n * 2.5, Total(m, n, assignment), 12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DuplicatedRowsGiveAPermutationWithTheOptimalTotal(bool maximize)
    {
        var rng = new Random(9);
        const int n = 8;
        var m = RandomMatrix(rng, n, integers: false);
        // Rows 1, 3 and 6 copy row 0; rows 5 and 7 copy row 2 (dead units give exactly such ties).
        foreach (var (copy, source) in new[] { (1, 0), (3, 0), (6, 0), (5, 2), (7, 2) })
            Array.Copy(m, source * n, m, copy * n, n);
        var assignment = LinearAssignment.Solve(m, n, maximize);
        AssertPermutation(assignment, n);
        Assert.Equal(BruteForce(m, n, maximize), Total(m, n, assignment), 9);
    }

    [Fact]
    public void SizeOneAndZero()
    {
        Assert.Equal(new[] { 0 }, LinearAssignment.Solve([-7.0], 1, maximize: false));
        Assert.Equal(new[] { 0 }, LinearAssignment.Solve([3.0], 1, maximize: true));
        Assert.Empty(LinearAssignment.Solve([], 0, maximize: true));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void NonFiniteEntryIsNamed(double bad)
    {
        var m = new double[16];
        m[6] = bad;      // row 1, col 2
        m[13] = double.NaN; // a later one is not the one reported
        var error = Assert.Throws<ArgumentException>(() => LinearAssignment.Solve(m, 4, maximize: true));
        Assert.Contains("row 1, col 2", error.Message);
        Assert.Contains(bad.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void WrongMatrixLengthIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => LinearAssignment.Solve(new double[8], 3, maximize: false));
        Assert.Contains("9", error.Message);
        Assert.Contains("8", error.Message);
    }

    [Fact]
    public void Size512SolvesQuickly()
    {
        const int n = 512;
        var m = RandomMatrix(new Random(1), n, integers: false);
        LinearAssignment.Solve(RandomMatrix(new Random(2), 16, false), 16, true); // JIT warm-up
        var clock = Stopwatch.StartNew();
        var assignment = LinearAssignment.Solve(m, n, maximize: true);
        clock.Stop();
        output.WriteLine($"n=512 linear assignment: {clock.Elapsed.TotalMilliseconds:F1} ms");
        AssertPermutation(assignment, n);
        // A feasible but not optimal answer (the identity) must not beat it.
        Assert.True(Total(m, n, assignment) >= Total(m, n, Enumerable.Range(0, n).ToArray()));
        // Loose bound: the expected time is tens of milliseconds; 5 s only catches a complexity blow-up.
        Assert.True(clock.Elapsed.TotalSeconds < 5, $"took {clock.Elapsed.TotalSeconds:F2} s");
    }

    [Fact]
    public void LargeSolveIsOptimalAgainstLocalSwaps()
    {
        // No pair swap improves an optimal assignment (a necessary condition checked cheaply at n = 64).
        const int n = 64;
        var m = RandomMatrix(new Random(4), n, integers: false);
        var a = LinearAssignment.Solve(m, n, maximize: false);
        for (int i = 0; i < n; i++)
            for (int k = i + 1; k < n; k++)
                Assert.True(m[i * n + a[i]] + m[k * n + a[k]] <= m[i * n + a[k]] + m[k * n + a[i]] + 1e-9);
    }
}
