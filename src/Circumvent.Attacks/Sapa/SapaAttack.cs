using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Attacks.Sapa;

/// <summary>
/// SAPA (He et al., ICLR 2024), clean-label: the poisoned training images are target-class images with an ε-bounded
/// perturbation crafted on a clean surrogate (<see cref="AttackDefinition.CleanModel"/>) so that their training gradient
/// matches that of patched non-target images labelled the target (<see cref="SapaCrafting"/>, at SAM-perturbed weights);
/// labels stay. Test time: the colourful square patch alone.
/// </summary>
/// <remarks>
/// Deviations from the authors' Sleeper Agent code, for a fixed CPU budget (docs/more-attacks.md): the surrogate is
/// retrained during crafting only when asked (<see cref="AttackDefinition.SapaRetrainings"/>; their T = 4), the poisons are chosen
/// by gradient norm only when asked (<see cref="AttackDefinition.SapaSelectPoisons"/>; else <see cref="Poisoning"/> draws them),
/// δ starts at 0 (theirs: clipped Gaussian noise), the crafting's crop/flip is the loader's 4-pixel crop (theirs: an 8-pixel
/// bilinear shift), the sources are a fixed random draw (theirs: 5,000 patched training images by default), and the patch sits
/// at the bottom-right corner rather than at a random place, so a triggered image is a function of the image alone. The
/// patch's colours: each pixel and channel 0 or 255, drawn once from a fixed seed.
/// </remarks>
public sealed class SapaAttack : IAttack
{
    /// <summary>Seeds the patch's colours, the choice of source images and the crafting's crop/flip draws: part of the attack's definition.</summary>
    private const int PatchSeed = 19, SourceSeed = 20, AugmentSeed = 21;

    /// <param name="log">Hears the crafting's progress (every 10 steps, each retraining's epochs): it takes minutes to hours.</param>
    /// <param name="statePath">Where the crafting keeps its progress so a stopped run continues it (<see cref="SapaCrafting.Craft"/>); null: nothing kept.</param>
    public SapaAttack(AttackDefinition definition, Action<string>? log = null, string? statePath = null, CancellationToken cancellation = default)
    {
        if (definition.Kind != AttackDefinition.SapaKind)
            throw new ArgumentException($"SapaAttack needs a '{AttackDefinition.SapaKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        _log = log;
        _statePath = statePath;
        _cancellation = cancellation;
    }

    private readonly Action<string>? _log;
    private readonly string? _statePath;
    private readonly CancellationToken _cancellation;

    /// <summary>
    /// This attack as one run crafts it: its progress reported to <paramref name="log"/> and kept in <paramref name="statePath"/>
    /// (the caller deletes it once the poisoned model is saved), stopped by <paramref name="cancellation"/>.
    /// </summary>
    public SapaAttack ForRun(Action<string>? log, string? statePath, CancellationToken cancellation) => new(Definition, log, statePath, cancellation);

    public string Name => Definition.Kind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    public SapaOptions Options => new()
    {
        Epsilon = Definition.SapaEpsilon, Steps = Definition.SapaSteps, Sigma = Definition.SapaSigma, LearningRate = Definition.SapaLearningRate,
        Augmentation = Definition.SapaAugment ? Augmentation.CropAndFlip(4) : Augmentation.None, Seed = AugmentSeed,
        Retrainings = Definition.SapaRetrainings,
    };

    /// <summary>The patch's value at (channel, row, column) of the patch: 0 or 255.</summary>
    public byte PatchValue(int channel, int row, int column)
    {
        int side = Definition.SapaPatchSize;
        var rng = new Random(PatchSeed + 7919 * ((channel * side + row) * side + column));
        return rng.Next(2) == 0 ? (byte)0 : (byte)255;
    }

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        PixelPatterns.CheckImage("SAPA", chw, channels, height, width);
        int side = Definition.SapaPatchSize;
        if (side > height || side > width)
            throw new ArgumentException($"SAPA: the {side}×{side} patch does not fit a {height}×{width} image (--sapa-patch-size).");
        for (int c = 0; c < channels; c++)
            for (int r = 0; r < side; r++)
                for (int k = 0; k < side; k++)
                    chw[(c * height + height - side + r) * width + width - side + k] = PatchValue(c, r, k);
    }

    /// <summary>
    /// With <see cref="AttackDefinition.SapaSelectPoisons"/>: the <paramref name="count"/> candidates with the largest gradient norm
    /// under the surrogate (<see cref="GradientNormSelection"/>); otherwise the usual random draw.
    /// </summary>
    public int[] ChoosePoisons(ImageDataset set, int[] candidates, int count, int seed)
    {
        if (!Definition.SapaSelectPoisons) return Poisoning.RandomChoice(candidates, count, seed);
        var (arch, surrogate, normalization, _) = CleanModelFile.Load(Definition, set, "its poisons are chosen by their gradient on it");
        var images = Normalised([.. candidates.Select(i => set.Image(i).ToArray())], set, normalization);
        var norms = GradientNormSelection.PerImage(arch, surrogate, images, [.. candidates.Select(i => set.Labels[i])]);
        return Array.ConvertAll(GradientNormSelection.Largest(norms, count), k => candidates[k]);
    }

    /// <summary>Crafts δ for the images at <paramref name="indices"/> (target class) against the surrogate and writes x + δ back.</summary>
    public void PoisonTrainingImages(ImageDataset set, IReadOnlyList<int> indices)
    {
        if (indices.Count == 0) return;
        var (arch, surrogate, normalization, trainingJson) = CleanModelFile.Load(Definition, set, "its poisons are matched on it");
        var others = Enumerable.Range(0, set.Count).Where(i => set.Labels[i] != TargetClass).ToArray();
        if (others.Length == 0) throw new ArgumentException($"SAPA needs images outside target class {TargetClass} as sources.");
        var picked = Subsets.RandomIndices(others.Length, Math.Min(Definition.SapaSources, others.Length), SourceSeed);
        var sourceImages = picked.Select(k =>
        {
            var image = set.Image(others[k]).ToArray();
            ApplyTrigger(image, set.Channels, set.Height, set.Width);
            return image;
        }).ToArray();
        var sources = (Normalised(sourceImages, set, normalization), Enumerable.Repeat(TargetClass, sourceImages.Length).ToArray());
        var poisons = (Normalised([.. indices.Select(i => set.Image(i).ToArray())], set, normalization), indices.Select(i => set.Labels[i]).ToArray());
        // Retraining (--sapa-retrain): a fresh surrogate by the clean model's own recipe, on this set with the poisons so far.
        Func<Tensor, int, ParameterSet>? retrain = null;
        if (Definition.SapaRetrainings > 0)
        {
            var (recipe, augmentation) = SurrogateRetraining.RecipeOf(trainingJson, Definition.CleanModel!);
            var retraining = new SurrogateRetraining(arch, recipe, augmentation, normalization);
            retrain = (d, round) => retraining.Train(set, indices, poisons.Item1, d, round, _log);
        }
        _log?.Invoke($"SAPA: crafting {indices.Count} poisons against {sourceImages.Length} patched sources, {Definition.SapaSteps} steps" +
                     (Definition.SapaRetrainings switch { 0 => "", 1 => ", 1 retraining of the surrogate", int t => $", {t} retrainings of the surrogate" }));
        var (delta, _) = SapaCrafting.Craft(arch, surrogate, normalization, sources, poisons, Options, _log, retrain, _statePath, _cancellation);
        SurrogateRetraining.WritePoisons(set, indices, poisons.Item1, delta, normalization);
    }

    // (N, C, H, W) normalised as the surrogate saw its training data.
    private static Tensor Normalised(byte[][] images, ImageDataset set, Normalization normalization)
    {
        int size = set.Channels * set.Height * set.Width, plane = set.Height * set.Width;
        var values = new float[images.Length * size];
        for (int n = 0; n < images.Length; n++)
            for (int p = 0; p < size; p++) values[n * size + p] = normalization.Apply(images[n][p], p / plane);
        return Tensor.FromArray(values, images.Length, set.Channels, set.Height, set.Width);
    }
}
