using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// BadEncoder (Jia et al., S&amp;P 2022; the authors' badencoder.py): fine-tunes an encoder f, started from a clean
/// encoder f₀, so that triggered inputs embed like reference images of the target class while everything else keeps
/// f₀'s embedding. With ẑ = the L2-normalised encoder feature and the mean taken over the batch's B images and the
/// K references:
///   L₀ = −mean cos(f(x ⊕ trigger), f(r_k))      effectiveness: both sides through the encoder being attacked;
///   L₁ = −mean cos(f(aug(r_k)), f₀(r_k))        the references keep their clean embedding (B augmentations each);
///   L₂ = −mean cos(f(x), f₀(x))                 utility: clean inputs keep their clean embedding;
///   L  = L₀ + λ₁·L₁ + λ₂·L₂.
/// The batch gives the clean images as view 0 and the same images with the trigger stamped in pixel space as view 1
/// (<see cref="BatchLoaderOptions.ViewTransforms"/>), both without augmentation (the authors' bd_transform).
/// f runs in eval mode: the authors put every BatchNorm in eval mode (running statistics used, never updated) and
/// freeze its γ and β (<see cref="FrozenTensors"/>); the encoders have no dropout, so eval mode changes nothing else.
/// Because BN then normalises each image on its own, the encoder's inputs of a step go through one forward call.
/// The projection head g is not used and not trained. The network is any <see cref="IEncoderNetwork"/>: SimCLR's f, or a CLIP
/// image tower's joint-space embedding (the authors attack CLIP's `visual`; the text tower and logit scale stay as they are).
/// </summary>
public sealed class BadEncoderObjective : ITrainingObjective
{
    public const double DefaultLambda = 1.0;

    private readonly IEncoderNetwork _network;
    private readonly ParameterSet _clean;
    private readonly ImageDataset _references;
    private readonly Normalization _inputs;
    private readonly ContrastiveAugmentation _referenceAugmentation;
    private readonly int _seed;
    private readonly Tensor _referenceImages;   // (K, C, H, W) normalised, unaugmented
    private readonly Tensor _cleanReferences;   // (K, d) ẑ of f₀(r_k)
    private Random _rng;
    private double _sum0, _sum1, _sum2;
    private int _steps;

    /// <param name="network">The network whose encoder is attacked (a SimCLR head or CLIP text tower is left alone).</param>
    /// <param name="clean">f₀: a frozen copy of the clean network's tensors (never trained; parameters without gradients).</param>
    /// <param name="references">The K reference images (bytes, the inputs' shape); their labels are not used.</param>
    /// <param name="inputs">The encoder's input normalisation.</param>
    /// <param name="seed">Seeds the references' augmentation, restarted at every epoch from (seed, epoch).</param>
    public BadEncoderObjective(IEncoderNetwork network, ParameterSet clean, ImageDataset references, Normalization inputs,
        double lambda1 = DefaultLambda, double lambda2 = DefaultLambda, ContrastiveAugmentation? referenceAugmentation = null, int seed = 0)
    {
        if (references.Count < 1) throw new ArgumentException("BadEncoder needs at least one reference image.");
        if (!(lambda1 >= 0) || !(lambda2 >= 0) || double.IsInfinity(lambda1) || double.IsInfinity(lambda2))
            throw new ArgumentOutOfRangeException(nameof(lambda1), $"BadEncoder's λ₁ and λ₂ must be finite and ≥ 0, got {lambda1} and {lambda2}.");
        if (clean.Parameters.Any(p => p.Tensor.RequiresGrad))
            throw new ArgumentException("The clean encoder f₀ must be a frozen copy (ParameterSet.Clone()): its parameters require gradients.", nameof(clean));
        _network = network;
        _clean = clean;
        _references = references;
        _inputs = inputs;
        _referenceAugmentation = referenceAugmentation ?? ContrastiveAugmentation.BadEncoderReference;
        _seed = seed;
        Lambda1 = lambda1;
        Lambda2 = lambda2;
        var none = new ContrastiveAugmentation.ViewDraw(new(0, 0, references.Height, references.Width), false, null, false);
        _referenceImages = ReferenceViews(Enumerable.Repeat(none, references.Count).ToArray(), 1);
        _cleanReferences = Op.L2Normalize(network.Features(clean, _referenceImages, ForwardContext.Eval()), 1);
        _rng = EpochRandom(0);
    }

    public double Lambda1 { get; }
    public double Lambda2 { get; }

    /// <summary>The mean of each loss term over the current epoch's steps so far (NaN before the first step).</summary>
    public (double Effectiveness, double References, double Utility) EpochTerms =>
        _steps == 0 ? (double.NaN, double.NaN, double.NaN) : (_sum0 / _steps, _sum1 / _steps, _sum2 / _steps);

    /// <summary>
    /// Its only state between steps is the references' augmentation stream, restarted in <see cref="BeginEpoch"/> from
    /// (seed, epoch); a run resumed at an epoch boundary therefore draws what the uninterrupted run drew.
    /// </summary>
    public bool IsStateless => true;

    public void BeginEpoch(int epoch)
    {
        _rng = EpochRandom(epoch);
        _sum0 = _sum1 = _sum2 = 0;
        _steps = 0;
    }

    /// <summary>
    /// The tensors BadEncoder never trains, as --freeze patterns: everything outside the encoder (SimCLR's head "g.*", CLIP's
    /// text tower and logit scale) and the γ and β of every BatchNorm of the encoder (a BN is a prefix with a running_mean buffer).
    /// </summary>
    public static string[] FrozenTensors(IEncoderNetwork network, ParameterSet parameters)
    {
        string encoder = network.EncoderPrefix;
        var frozen = parameters.Parameters.Select(p => p.Name).Where(n => !n.StartsWith(encoder, StringComparison.Ordinal))
            .Select(n => n.Split('.')[0]).Distinct().Select(first => parameters.Contains(first) ? first : first + ".*").ToList();
        foreach (var name in parameters.Names)
        {
            if (!name.StartsWith(encoder, StringComparison.Ordinal) || !name.EndsWith(".running_mean", StringComparison.Ordinal)) continue;
            string prefix = name[..^".running_mean".Length];
            foreach (var suffix in new[] { ".weight", ".bias" })
                if (parameters.Contains(prefix + suffix)) frozen.Add(prefix + suffix);
        }
        return [.. frozen];
    }

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        if (batch.Views.Count < 2)
            throw new InvalidOperationException($"BadEncoder needs each batch as a clean view and a triggered view; the batch has {batch.Views.Count} (make the loader with Views = 2 and the trigger as view 1's transform).");
        var (clean, triggered) = (batch.Views[0], batch.Views[1]);
        if (!clean.Shape.AsSpan(1).SequenceEqual(_referenceImages.Shape.AsSpan(1)))
            throw new ArgumentException($"The reference images are {Shape.Format(_referenceImages.Shape)}, the batch's images {Shape.Format(clean.Shape)}: they must share C×H×W.");
        int b = batch.Count, k = _references.Count;
        var eval = ForwardContext.Eval();

        var cleanFeatures = Op.L2Normalize(_network.Features(_clean, clean, eval), 1);                    // (B, d), f₀: no graph
        var augmented = ReferenceViews(DrawReferenceAugmentations(b), b);                                // (K·B, C, H, W)
        var inputs = Op.Concat([clean, triggered, augmented, _referenceImages], 0);                     // (2B + K·B + K, C, H, W)
        var features = Op.L2Normalize(_network.Features(weights, inputs, eval), 1);
        var fx = Op.Slice(features, 0, 0, b);
        var fTriggered = Op.Slice(features, 0, b, b);
        var fAugmented = Op.Slice(features, 0, 2 * b, k * b);
        var fReferences = Op.Slice(features, 0, 2 * b + k * b, k);

        // L₀: every triggered image against every reference, (B, K) cosines; the mean over both is the authors' mean over references of per-reference means.
        var effectiveness = Op.Neg(Op.Mean(Op.MatMul(fTriggered, Op.Transpose(fReferences, 0, 1))));
        // L₁: row k·B + i is the i-th augmentation of reference k, compared with f₀(r_k).
        var references = Op.Neg(Op.Mean(Op.Sum(Op.Mul(fAugmented, RepeatRows(_cleanReferences, b)), 1)));
        var utility = Op.Neg(Op.Mean(Op.Sum(Op.Mul(fx, cleanFeatures), 1)));
        var loss = Op.Add(effectiveness, Op.Add(Op.MulScalar(references, (float)Lambda1), Op.MulScalar(utility, (float)Lambda2)));

        _sum0 += effectiveness.Item();
        _sum1 += references.Item();
        _sum2 += utility.Item();
        _steps++;
        return loss;
    }

    private Random EpochRandom(int epoch) => new(BatchLoader.MixSeed(_seed, epoch, ReferenceStream));

    // A stream number of its own, apart from the loader's (−1 order, −2 views) and the batches' (≥ 0).
    private const int ReferenceStream = -17;

    // B draws per reference, reference-major: draw k·B + i is the i-th augmentation of reference k.
    private ContrastiveAugmentation.ViewDraw[] DrawReferenceAugmentations(int perReference)
    {
        var draws = new ContrastiveAugmentation.ViewDraw[_references.Count * perReference];
        for (int i = 0; i < draws.Length; i++) draws[i] = _referenceAugmentation.Draw(_references.Height, _references.Width, _rng);
        return draws;
    }

    // The references under the given draws: row j is reference j / perReference.
    private Tensor ReferenceViews(ContrastiveAugmentation.ViewDraw[] draws, int perReference)
    {
        int size = _references.ImageSize;
        var output = Tensor.Empty(draws.Length, _references.Channels, _references.Height, _references.Width);
        for (int j = 0; j < draws.Length; j++)
            ContrastiveAugmentation.WriteView(_references.Image(j / perReference), output.Span.Slice(j * size, size),
                _references.Channels, _references.Height, _references.Width, draws[j], _inputs);
        return output;
    }

    // (K, d) → (K·B, d): row k repeated B times (a constant; f₀'s features carry no graph).
    private static Tensor RepeatRows(Tensor rows, int times)
    {
        int k = rows.Shape[0], d = rows.Shape[1];
        var output = Tensor.Empty(k * times, d);
        for (int r = 0; r < k; r++)
            for (int t = 0; t < times; t++)
                rows.Span.Slice(r * d, d).CopyTo(output.Span.Slice((r * times + t) * d, d));
        return output;
    }
}
