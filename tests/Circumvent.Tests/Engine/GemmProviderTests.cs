using System.Collections.Concurrent;
using Circumvent.Engine.Kernels;

namespace Circumvent.Tests.Engine;

/// <summary>Every usable provider against <see cref="ReferenceGemm"/> on awkward shapes and strides.</summary>
public class GemmProviderTests
{
    // (m, n, k): tiny, not multiples of the 6 × 16 tile, past the MC = 144 / KC = 256 blocks,
    // past NC = 4080 columns, and empty dimensions.
    public static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 13, 5), (65, 33, 129), (200, 150, 300), (6, 16, 8),
        (150, 40, 600), (3, 4100, 2), (0, 5, 3), (4, 0, 3), (5, 4, 0),
    ];

    // The triple-loop reference dominates the run time, so each expected C is computed once for all providers.
    private static readonly ConcurrentDictionary<(int, bool, bool, float, float), Lazy<float[]>> ReferenceResults = new();

    private static readonly (float Alpha, float Beta)[] Scalings = [(1f, 0f), (0.5f, 1f), (-2f, 0.25f), (0f, 0.5f)];

    public static TheoryData<string, int> ProviderShapes()
    {
        var data = new TheoryData<string, int>();
        foreach (var provider in ProviderNames())
            for (int s = 0; s < Shapes.Length; s++) data.Add(provider, s);
        return data;
    }

    /// <summary>GemmProviders.Available() plus the managed scalar fallback, which AVX2 machines never pick.</summary>
    public static IEnumerable<string> ProviderNames() => [.. GemmProviders.Available(), "managed-scalar"];

    internal static IGemm Create(string name) =>
        name == "managed-scalar" ? new ManagedGemm(useSimd: false) : GemmProviders.Create(name);

    [Theory]
    [MemberData(nameof(ProviderShapes))]
    public void MatchesReferenceForAllTransposesAndScalings(string provider, int shapeIndex)
    {
        var gemm = Create(provider);
        var reference = new ReferenceGemm();
        var (m, n, k) = Shapes[shapeIndex];
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (var (alpha, beta) in Scalings)
                {
                    // beta = 0 gets a NaN-filled C: it must be ignored, not multiplied by zero.
                    var problem = new GemmTestMatrices(shapeIndex * 31 + 7, transA, transB, m, n, k, padding: 3, nanC: beta == 0f);
                    string what = $"{gemm.Name} ({m},{n},{k}) transA={transA} transB={transB} alpha={alpha} beta={beta}";
                    var expected = ReferenceResults.GetOrAdd((shapeIndex, transA, transB, alpha, beta),
                        _ => new Lazy<float[]>(() => problem.Run(reference, alpha, beta))).Value;
                    problem.AssertMatches(expected, problem.Run(gemm, alpha, beta), what);
                }
    }

    [Theory]
    [MemberData(nameof(ProviderNamesData))]
    public void BetaOneAccumulatesRepeatedProducts(string provider)
    {
        var gemm = Create(provider);
        var problem = new GemmTestMatrices(5, false, true, 37, 45, 70, padding: 2, nanC: false);
        var once = problem.Run(gemm, 1f, 0f);
        var c = (float[])problem.C.Clone();
        for (int repeat = 0; repeat < 3; repeat++)
            gemm.Sgemm(false, true, 37, 45, 70, 1f, problem.A, problem.Lda, problem.B, problem.Ldb, repeat == 0 ? 0f : 1f, c, problem.Ldc);
        for (int i = 0; i < 37; i++)
            for (int j = 0; j < 45; j++)
            {
                float expected = 3f * once[i * problem.Ldc + j], actual = c[i * problem.Ldc + j];
                Assert.True(MathF.Abs(expected - actual) <= 1e-4f * (1f + MathF.Abs(expected)), $"{gemm.Name}: C[{i},{j}] = {actual}, expected {expected}");
            }
    }

    public static TheoryData<string> ProviderNamesData() => [.. ProviderNames()];

    [Theory]
    [MemberData(nameof(ProviderNamesData))]
    public void RejectsSpansTooShortForTheShape(string provider)
    {
        var gemm = Create(provider);
        var a = new float[4 * 5 - 1];
        var b = new float[5 * 3];
        var c = new float[4 * 3];
        var error = Assert.Throws<ArgumentException>(() => gemm.Sgemm(false, false, 4, 3, 5, 1f, a, 5, b, 3, 0f, c, 3));
        Assert.Contains("A", error.Message);
    }

    [Theory]
    [MemberData(nameof(ProviderNamesData))]
    public void ZeroAlphaAndBetaClearsNaNWithoutTouchingPadding(string provider)
    {
        var problem = new GemmTestMatrices(11, true, false, 9, 20, 7, padding: 4, nanC: true);
        var actual = problem.Run(Create(provider), 0f, 0f);
        problem.AssertMatches(new float[actual.Length], actual, $"{provider} alpha=0 beta=0");
    }

    [Fact]
    public void ManagedWorkspaceSurvivesGrowingAndShrinkingShapesOnOneThread()
    {
        var gemm = new ManagedGemm();
        var reference = new ReferenceGemm();
        // Small, then wider than NC with a k past KC (buffers grow), then small again (buffers reused).
        foreach (var (m, n, k) in new[] { (5, 5, 5), (8, 4100, 260), (13, 17, 3) })
        {
            var problem = new GemmTestMatrices(m * 7 + k, false, true, m, n, k, padding: 1, nanC: true);
            problem.AssertMatches(problem.Run(reference, 1.5f, 0f), problem.Run(gemm, 1.5f, 0f), $"managed ({m},{n},{k})");
        }
    }
}
