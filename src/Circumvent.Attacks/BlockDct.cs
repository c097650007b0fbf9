namespace Circumvent.Attacks;

/// <summary>
/// The orthonormal 2-D DCT-II on square blocks (scipy/torch-dct's norm='ortho'): with the N×N matrix
/// C[k, j] = α_k·cos(π(2j + 1)k / 2N), α_0 = √(1/N), α_k = √(2/N), a block's coefficients are X = C·x·Cᵀ and its
/// inverse (the DCT-III) is x = Cᵀ·X·C, since C is orthogonal. Computed in double; blocks are row-major N×N.
/// </summary>
public sealed class BlockDct
{
    private readonly double[] _c; // (N, N) row-major

    public BlockDct(int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "A DCT block needs at least one point.");
        Size = size;
        _c = new double[size * size];
        for (int k = 0; k < size; k++)
        {
            double alpha = Math.Sqrt((k == 0 ? 1.0 : 2.0) / size);
            for (int j = 0; j < size; j++) _c[k * size + j] = alpha * Math.Cos(Math.PI * (2 * j + 1) * k / (2.0 * size));
        }
    }

    public int Size { get; }

    /// <summary>The basis value C[k, j]: how much coefficient k's basis vector has at position j.</summary>
    public double Basis(int k, int j) => _c[k * Size + j];

    /// <summary>In place: <paramref name="block"/> (N×N samples) → its DCT-II coefficients.</summary>
    public void Forward(Span<double> block) => Transform(block, inverse: false);

    /// <summary>In place: <paramref name="block"/> (N×N coefficients) → samples (the DCT-III, the inverse of <see cref="Forward"/>).</summary>
    public void Inverse(Span<double> block) => Transform(block, inverse: true);

    // Forward: B = C·A·Cᵀ; inverse: B = Cᵀ·A·C. Rows first, then columns, through one temporary.
    private void Transform(Span<double> block, bool inverse)
    {
        int n = Size;
        if (block.Length != n * n) throw new ArgumentException($"A {n}×{n} DCT block has {n * n} values, got {block.Length}.");
        var temp = new double[n * n];
        // temp = A·Cᵀ (forward) or A·C (inverse): each row of A transformed.
        for (int r = 0; r < n; r++)
            for (int k = 0; k < n; k++)
            {
                double sum = 0;
                for (int j = 0; j < n; j++) sum += block[r * n + j] * (inverse ? _c[j * n + k] : _c[k * n + j]);
                temp[r * n + k] = sum;
            }
        // block = C·temp (forward) or Cᵀ·temp (inverse): each column transformed.
        for (int k = 0; k < n; k++)
            for (int col = 0; col < n; col++)
            {
                double sum = 0;
                for (int r = 0; r < n; r++) sum += (inverse ? _c[r * n + k] : _c[k * n + r]) * temp[r * n + col];
                block[k * n + col] = sum;
            }
    }
}
