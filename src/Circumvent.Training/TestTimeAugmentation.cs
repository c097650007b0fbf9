using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// airbench's test-time augmentation of a classifier's logits on a normalised batch x (B, C, H, W):
/// level 0 f(x); level 1 mirror(x) = ½·(f(x) + f(flip x)); level 2 ½·mirror(x) + ¼·(mirror(x↖) + mirror(x↘)),
/// where x↖ and x↘ are x translated by one pixel up-left and down-right with reflect padding (the crops at
/// (0, 0) and (2, 2) of x padded by 1). Views are built on the normalised values, as airbench does.
/// </summary>
public static class TestTimeAugmentation
{
    public const int MaxLevel = 2;

    /// <summary>The level's logits (B, classes); call in eval mode without a graph.</summary>
    public static Tensor Logits(IArchitecture architecture, ParameterSet parameters, Tensor x, ForwardContext context, int level)
    {
        if (level < 0 || level > MaxLevel) throw new ArgumentOutOfRangeException(nameof(level), level, "TTA level must be 0, 1 or 2.");
        // Each forward in a scope of its own that keeps only the logits: level 2's six forwards then hold one forward's
        // activations at a time, not all six until the caller's scope ends.
        Tensor F(Tensor input)
        {
            using var scope = TensorScope.Open();
            return scope.Keep(architecture.Forward(parameters, input, context));
        }
        Tensor Mirror(Tensor input) => Op.MulScalar(Op.Add(F(input), F(Shift(input, 0, 0, flip: true))), 0.5f);
        if (level == 0) return F(x);
        if (level == 1) return Mirror(x);
        var translated = Op.Add(Mirror(Shift(x, -1, -1, flip: false)), Mirror(Shift(x, 1, 1, flip: false)));
        return Op.Add(Op.MulScalar(Mirror(x), 0.5f), Op.MulScalar(translated, 0.25f));
    }

    /// <summary>
    /// out[…, y, x] = in[…, reflect(y − dy), reflect(x' − dx)] with x' = W−1−x when <paramref name="flip"/>:
    /// the image moved by (dy, dx) pixels, the uncovered border mirrored (PyTorch 'reflect').
    /// </summary>
    public static Tensor Shift(Tensor x, int dy, int dx, bool flip)
    {
        int h = x.Shape[^2], w = x.Shape[^1], planes = x.Length / (h * w);
        if (Math.Abs(dy) >= h || Math.Abs(dx) >= w) throw new ArgumentException($"A shift of ({dy}, {dx}) does not fit {h}×{w} images.");
        var output = Tensor.Empty(x.Shape.ToArray());
        var src = x.Span;
        var dst = output.Span;
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < h; y++)
            {
                int sy = Reflect(y - dy, h);
                for (int xo = 0; xo < w; xo++)
                    dst[(p * h + y) * w + xo] = src[(p * h + sy) * w + Reflect((flip ? w - 1 - xo : xo) - dx, w)];
            }
        return output;
    }

    private static int Reflect(int i, int size) => i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;
}
