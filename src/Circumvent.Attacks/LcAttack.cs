using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// Label-consistent attack (Turner et al. 2019), clean-label. Training: target-class images are
/// first made hard to classify by PGD against a clean model (<see cref="AttackDefinition.CleanModel"/>;
/// ε = 8, step 2, 10 steps on the 0–255 scale by default), then the four-corner trigger is added;
/// labels stay. Test time: the trigger alone. The trigger is the published "all-corners" mask: a 3×3
/// near-checkerboard of ±255 at each corner (added, then clipped, so pixels become 255 or 0), the
/// right-hand corners mirrored left–right; every channel gets the same value.
/// </summary>
public sealed class LcAttack(AttackDefinition definition) : AdditiveAttack(definition, AttackDefinition.LcKind)
{
    /// <summary>The top-left corner's signs, row by row; the right corners use it mirrored, the bottom ones unchanged.</summary>
    private static readonly int[,] LeftCorner = { { 1, -1, -1 }, { -1, 1, -1 }, { 1, -1, 1 } };

    protected override void CheckFits(int height, int width)
    {
        if (height < 3 || width < 3)
            throw new ArgumentException($"LC: the 3×3 corner trigger does not fit a {height}×{width} image.");
    }

    /// <summary>PGD against the clean model, then the corner trigger.</summary>
    public override void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices)
    {
        var (arch, parameters, normalization, _) = CleanModelFile.Load(Definition, set, "PGD runs against it");
        ProjectedGradientDescent.PerturbInPlace(arch, parameters, normalization, set, indices,
            Definition.PgdEpsilon, Definition.PgdStepSize, Definition.PgdSteps);
        foreach (int i in indices) ApplyTrigger(set.Image(i), set.Channels, set.Height, set.Width);
    }

    /// <summary>±255 at the 36 corner pixels, 0 elsewhere.</summary>
    protected override float[] BuildPattern(int channels, int height, int width)
    {
        var pattern = new float[channels * height * width];
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
            {
                float left = 255f * LeftCorner[dy, dx], right = 255f * LeftCorner[dy, 2 - dx];
                foreach (int y in new[] { dy, height - 3 + dy })
                    for (int c = 0; c < channels; c++)
                    {
                        int row = (c * height + y) * width;
                        // NOTE: assigned, not accumulated: on images under 6 pixels the corners overlap and the later one wins.
                        pattern[row + dx] = left;
                        pattern[row + width - 3 + dx] = right;
                    }
            }
        return pattern;
    }
}
