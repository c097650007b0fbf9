namespace Circumvent.Engine;

/// <summary>Shape arithmetic and checks shared by every op.</summary>
public static class Shape
{
    public static int Size(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension in shape {Format(shape)}.");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"Shape {Format(shape)} has more than {int.MaxValue} elements.");
        }
        return (int)n;
    }

    public static string Format(ReadOnlySpan<int> shape) => "(" + string.Join(", ", shape.ToArray()) + ")";

    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    public static void CheckSame(ReadOnlySpan<int> a, ReadOnlySpan<int> b, string what)
    {
        if (!Equal(a, b))
            throw new ArgumentException($"{what}: shapes {Format(a)} and {Format(b)} differ.");
    }

    public static void CheckRank(Tensor t, int rank, string what)
    {
        if (t.Rank != rank)
            throw new ArgumentException($"{what}: expected a rank-{rank} tensor, got shape {Format(t.Shape)}.");
    }

    /// <summary>Row-major strides of a contiguous tensor.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { strides[i] = s; s *= shape[i]; }
        return strides;
    }

    /// <summary>Resolves a negative axis index (-1 = last).</summary>
    public static int Axis(int axis, int rank)
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentException($"Axis {axis} is out of range for rank {rank}.");
        return a;
    }
}
