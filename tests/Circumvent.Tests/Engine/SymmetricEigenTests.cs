using Circumvent.Engine.LinearAlgebra;

namespace Circumvent.Tests.Engine;

public class SymmetricEigenTests
{
    private static double[,] RandomSymmetric(int seed, int n)
    {
        var rng = new Random(seed);
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) a[i, j] = a[j, i] = rng.NextDouble() * 2 - 1;
        return a;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 12)]
    [InlineData(4, 27)]
    public void ReconstructsTheMatrixFromOrthonormalEigenvectorsInDescendingOrder(int seed, int n)
    {
        var a = RandomSymmetric(seed, n);
        var (values, vectors) = SymmetricEigen.Decompose(a);
        for (int k = 1; k < n; k++) Assert.True(values[k - 1] >= values[k], $"eigenvalues not descending at {k}: {values[k - 1]} < {values[k]}");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double dot = 0, rebuilt = 0;
                for (int k = 0; k < n; k++)
                {
                    dot += vectors[i, k] * vectors[j, k];
                    rebuilt += vectors[k, i] * values[k] * vectors[k, j];
                }
                Assert.Equal(i == j ? 1 : 0, dot, 10);
                Assert.Equal(a[i, j], rebuilt, 10);
            }
    }

    [Fact]
    public void KnownTwoByTwo()
    {
        var (values, vectors) = SymmetricEigen.Decompose(new double[,] { { 2, 1 }, { 1, 2 } });
        Assert.Equal(3, values[0], 12);
        Assert.Equal(1, values[1], 12);
        Assert.Equal(1, Math.Abs(vectors[0, 0] + vectors[0, 1]) / Math.Sqrt(2), 12); // (1, 1)/√2 up to sign
    }

    [Fact]
    public void DiagonalMatrixNeedsNoRotation()
    {
        var (values, _) = SymmetricEigen.Decompose(new double[,] { { 1, 0, 0 }, { 0, 5, 0 }, { 0, 0, 3 } });
        Assert.Equal([5.0, 3.0, 1.0], values);
    }

    [Fact]
    public void AsymmetricInputIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose(new double[,] { { 1, 2 }, { 0, 1 } }));
        Assert.Contains("(0, 1)", e.Message);
    }
}
