using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// The BTI-DBF(U) machinery PAM runs inside (Xu et al., ICLR 2024, as Min et al. run it: `BTIDBF/cfg.py`, `defense.sh`,
/// `pretrain.py`, `btidbfu.py`; docs/defences-and-robustness.md §3.4). The defaults are the authors'.
/// </summary>
public sealed record BtiOptions
{
    /// <summary>Epochs of the generator's pre-training on D before the first round (preround).</summary>
    public int PretrainEpochs { get; init; } = 50;
    /// <summary>Epochs of the feature-mask step per round (mround).</summary>
    public int MaskEpochs { get; init; } = 20;
    /// <summary>Epochs of the generator step per round (uround).</summary>
    public int GeneratorEpochs { get; init; } = 30;
    /// <summary>Adam's rate for the generator, in pre-training and in every generator step (gen_lr).</summary>
    public double GeneratorLearningRate { get; init; } = 1e-3;
    /// <summary>Adam's rate for the feature mask.</summary>
    public double MaskLearningRate { get; init; } = 0.01;
    /// <summary>A batch whose MSE(x, G(x)) exceeds this trains G on that MSE alone (norm_bound).</summary>
    public double NormBound { get; init; } = 0.3;
    /// <summary>Likewise when the benign-feature MSE exceeds this (feat_bound).</summary>
    public double FeatureBound { get; init; } = 3;
    /// <summary>
    /// Pre-training weighs MSE(x, G(x)) by 100 while it exceeds this, by 0.01 below (hard-coded 0.1 in `pretrain.py`). Like
    /// the two bounds it is in the normalised image space, so it assumes images normalised to about unit variance.
    /// </summary>
    public double PretrainNormBound { get; init; } = 0.1;
    /// <summary>Share of an unlearning batch replaced by G(x): int(share·B + 1) images.</summary>
    public double ReplacedShare { get; init; } = 0.2;
    /// <summary>Standard deviation of the Gaussian noise added to x before G when the target class is detected.</summary>
    public double TargetNoise { get; init; } = 0.03;
    /// <summary>U-Net depth: encoder/decoder blocks (the authors' num_blocks); fewer when the image side does not halve that often.</summary>
    public int UNetBlocks { get; init; } = 4;
    /// <summary>Filters of the U-Net's first block, doubled per block (the authors' base_filter_num).</summary>
    public int UNetWidth { get; init; } = 32;
    /// <summary>
    /// Rounds 1..N run the mask and generator steps; later rounds unlearn with round N's generator. Null: every round, as
    /// the algorithm reads. 1 is what the authors' code does: `btidbfu.py::unlearn_pam` freezes G after round 1, so their
    /// rounds 2–3 unlearn with round 1's G (docs/defences.md, PAM, "Where we differ").
    /// </summary>
    public int? GeneratorRounds { get; init; }

    public void Validate()
    {
        OptionChecks.Positive(PretrainEpochs, "--bti-pretrain-epochs");
        OptionChecks.Positive(MaskEpochs, "--bti-mask-epochs");
        OptionChecks.Positive(GeneratorEpochs, "--bti-generator-epochs");
        OptionChecks.PositiveRate(GeneratorLearningRate, "--bti-generator-lr");
        OptionChecks.PositiveRate(MaskLearningRate, "--bti-mask-lr");
        OptionChecks.PositiveRate(NormBound, "--bti-norm-bound");
        OptionChecks.PositiveRate(FeatureBound, "--bti-feature-bound");
        OptionChecks.PositiveRate(PretrainNormBound, "BTI pre-training norm bound");
        if (!(ReplacedShare >= 0 && ReplacedShare < 1)) throw new ArgumentException($"--bti-replaced must be in [0, 1), got {ReplacedShare}.");
        OptionChecks.NonNegative(TargetNoise, "BTI target noise");
        OptionChecks.Positive(UNetBlocks, "--bti-unet-blocks");
        OptionChecks.Positive(UNetWidth, "--bti-unet-width");
        if (GeneratorRounds is int n) OptionChecks.Positive(n, "--bti-generator-rounds");
    }

    /// <summary>The generator for C × H × W images: the most blocks up to <see cref="UNetBlocks"/> both sides halve into.</summary>
    public Models.UNet GeneratorFor(int channels, int height, int width)
    {
        int blocks = Math.Min(Models.UNet.BlocksFor(height, UNetBlocks), Models.UNet.BlocksFor(width, UNetBlocks));
        if (blocks == 0)
            throw new ArgumentException($"--defense pam: BTI's U-Net needs images whose sides halve at least once to 2 or more, got {height} × {width}.");
        return new Models.UNet(channels, blocks, UNetWidth);
    }

    /// <summary>Whether round <paramref name="round"/> (from 1) trains the mask and the generator.</summary>
    public bool TrainsGeneratorIn(int round) => GeneratorRounds is not int n || round <= n;

    /// <summary>int(share·B + 1), at most B: how many images of a batch of <paramref name="batch"/> G replaces.</summary>
    public int ReplacedCount(int batch) => Math.Min(batch, (int)(ReplacedShare * batch + 1));
}
