using Circumvent.Data;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

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
        var (arch, parameters, normalization) = LoadCleanModel(set);
        ProjectedGradientDescent.PerturbInPlace(arch, parameters, normalization, set, indices,
            Definition.PgdEpsilon, Definition.PgdStepSize, Definition.PgdSteps);
        foreach (int i in indices) ApplyTrigger(set.Image(i), set.Channels, set.Height, set.Width);
    }

    private (IArchitecture Arch, ParameterSet Parameters, Normalization Normalization) LoadCleanModel(ImageDataset set)
    {
        string path = Definition.CleanModel
            ?? throw new ArgumentException("The lc attack needs --clean-model PATH to poison a training set (PGD runs against it).");
        if (!File.Exists(path)) throw new ArgumentException($"--clean-model '{path}': file not found.");
        var checkpoint = ModelCheckpoint.Load(path);
        var a = checkpoint.Architecture;
        if (a.InChannels != set.Channels || a.Height != set.Height || a.Width != set.Width)
            throw new ArgumentException($"--clean-model '{path}' expects {a.InChannels}×{a.Height}×{a.Width} images but the training set has {set.Channels}×{set.Height}×{set.Width}.");
        if (a.Classes != set.NumClasses)
            throw new ArgumentException($"--clean-model '{path}' has {a.Classes} classes but the training set has {set.NumClasses}.");
        // A checkpoint without normalisation saw inputs scaled to [0, 1] only.
        var normalization = checkpoint.NormalizationMean is { } mean
            ? new Normalization(mean, checkpoint.NormalizationStd!)
            : Normalization.Identity(set.Channels);
        return (Architectures.Create(a), checkpoint.Parameters, normalization);
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
