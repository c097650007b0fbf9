using Circumvent.Engine;

namespace Circumvent.Tests.Parity;

/// <summary>
/// The one comparison every parity test uses: max|a − b| ≤ Tolerance · max(1, max|b|), where b is
/// the PyTorch reference. The error is scaled by the reference's largest magnitude (not
/// elementwise), so tiny entries of a large tensor are judged against the tensor's scale, which is
/// how float32 accumulation error behaves; the max(1, ·) floor keeps near-zero tensors from
/// demanding sub-ulp agreement.
/// </summary>
public static class Parity
{
    public const double Tolerance = 1e-4;

    public static void Close(string what, Tensor? actual, Tensor expected)
    {
        Assert.True(actual is not null, $"{what}: no tensor produced (expected shape {Shape.Format(expected.Shape)}).");
        Assert.True(Shape.Equal(actual!.Shape, expected.Shape),
            $"{what}: shape {Shape.Format(actual.Shape)}, PyTorch has {Shape.Format(expected.Shape)}.");
        Close(what, actual.Span, expected.Span);
    }

    public static void Close(string what, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: {actual.Length} values, PyTorch has {expected.Length}.");
        double maxRef = 0, maxErr = 0;
        int worst = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
            double err = Math.Abs((double)actual[i] - expected[i]);
            if (!(err <= maxErr)) { maxErr = err; worst = i; } // NaN counts as worst
        }
        double bound = Tolerance * Math.Max(1.0, maxRef);
        if (maxErr <= bound) return;
        Assert.Fail(
            $"{what}: max |ours − torch| = {maxErr:G4} at index {worst} (ours {actual[worst]:G7}, torch {expected[worst]:G7}), " +
            $"bound {bound:G4} = {Tolerance:G1}·max(1, {maxRef:G4}).");
    }
}
