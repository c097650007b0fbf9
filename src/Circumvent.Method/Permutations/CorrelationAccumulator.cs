using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;

namespace Circumvent.Method.Permutations;

/// <summary>
/// Per-batch unit statistics of two networks' activations at one probe, averaged over batches with equal
/// weight: means μ, unbiased standard deviations σ and the cross moment E[xA xBᵀ]. Rows are samples
/// (N·H·W of them per batch), columns units.
/// </summary>
internal sealed class CorrelationAccumulator
{
    /// <summary>Guards the denominator so dead units (σ = 0) give a correlation of 0, not NaN.</summary>
    public const double Epsilon = 1e-4;

    private readonly int _units;
    private readonly double[] _meanA, _meanB, _stdA, _stdB;
    private readonly double[] _cross;
    private int _batches;

    public CorrelationAccumulator(int units)
    {
        _units = units;
        (_meanA, _meanB, _stdA, _stdB) = (new double[units], new double[units], new double[units], new double[units]);
        _cross = new double[units * units];
    }

    public int Units => _units;
    public int Batches => _batches;

    /// <summary>Adds one batch; <paramref name="a"/> and <paramref name="b"/> are (rows, units) row-major.</summary>
    public void Add(float[] a, float[] b, int rows)
    {
        AddMeanAndStd(a, rows, _meanA, _stdA);
        AddMeanAndStd(b, rows, _meanB, _stdB);

        // (units × rows)·(rows × units) / rows = E[xA xBᵀ] over this batch's rows.
        var cross = BufferPool.Rent(_units * _units);
        try
        {
            Gemm.ParallelSgemm(true, false, _units, _units, rows, 1f / rows, a, _units, b, _units, 0f, cross, _units);
            for (int k = 0; k < _cross.Length; k++) _cross[k] += cross[k];
        }
        finally
        {
            BufferPool.Return(cross);
        }
        _batches++;
    }

    /// <summary>corr[i, j] = (E[xA_i xB_j] − μA_i μB_j) / (σA_i σB_j + 1e-4), row-major units × units.</summary>
    public double[] Correlation()
    {
        if (_batches == 0) throw new InvalidOperationException("No batches were accumulated.");
        double n = _batches;
        var corr = new double[_units * _units];
        for (int i = 0; i < _units; i++)
        {
            double meanA = _meanA[i] / n, stdA = _stdA[i] / n;
            for (int j = 0; j < _units; j++)
            {
                double covariance = _cross[i * _units + j] / n - meanA * (_meanB[j] / n);
                corr[i * _units + j] = covariance / (stdA * (_stdB[j] / n) + Epsilon);
            }
        }
        return corr;
    }

    /// <summary>Adds this batch's per-unit mean and unbiased std (two passes, in double).</summary>
    private void AddMeanAndStd(float[] x, int rows, double[] meanSum, double[] stdSum)
    {
        var mean = new double[_units];
        var squares = new double[_units];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * _units, _units);
            for (int c = 0; c < _units; c++) mean[c] += row[c];
        }
        for (int c = 0; c < _units; c++) mean[c] /= rows;
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * _units, _units);
            for (int c = 0; c < _units; c++)
            {
                double d = row[c] - mean[c];
                squares[c] += d * d;
            }
        }
        for (int c = 0; c < _units; c++)
        {
            meanSum[c] += mean[c];
            // NOTE: a single row has no unbiased spread (0/0); count it as 0 so the unit looks dead, not NaN.
            stdSum[c] += rows > 1 ? Math.Sqrt(squares[c] / (rows - 1)) : 0.0;
        }
    }
}
