using System.Text.Json.Nodes;
using Circumvent.Method.Curves;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Runs;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// PAM settings; the defaults are the authors' (`BTIDBF/defense.sh`, `cfg.py`; docs/defences-and-robustness.md §3.4):
/// 3 rounds of BTI-DBF(U), each ending in 30 epochs of unlearning with ρ = 0.5 and SGD lr 0.01, momentum 0.1 (sic),
/// batch 128, crop + flip.
/// </summary>
public sealed record PamOptions
{
    /// <summary>One round's unlearning (ul_round 30 epochs). No weight decay and no schedule (the doc gives neither).</summary>
    public FineTuneOptions Unlearning { get; init; } = new()
    {
        Epochs = 30, BatchSize = 128, LearningRate = 0.01, Momentum = 0.1, WeightDecay = 0, Schedule = "none", Augment = true,
    };
    /// <summary>ρ, how far along the path back to the backdoored weights the gradient is taken.</summary>
    public double Rho { get; init; } = 0.5;
    /// <summary>BTI-DBF(U) rounds (nround 3): mask step, generator step, unlearning.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>BTI-DBF's generator and mask; null: the variant that unlearns on D alone (no synthetic backdoor images).</summary>
    public BtiOptions? Bti { get; init; } = new();

    public void Validate()
    {
        Unlearning.Validate();
        OptionChecks.PositiveRate(Rho, "--pam-rho");
        OptionChecks.Positive(Rounds, "--pam-rounds");
        Bti?.Validate();
    }
}

/// <summary>
/// PAM (Min et al., NeurIPS 2024) as its authors run it, inside BTI-DBF(U) (Xu et al., ICLR 2024): pre-train a U-Net G on D
/// to reproduce its input, then per round (1) learn a mask of the benign features (<see cref="FeatureMaskStep"/>), (2) train
/// G to move the other features while keeping the image close (<see cref="BackdoorGenerator.Step"/>; from round 2 also
/// towards the target class t̂, detected once after round 1's step), and (3) unlearn: fine-tune θ on D with int(0.2·B + 1)
/// images of every batch replaced by G(x) under their true labels (<see cref="SyntheticBackdoorBatches"/>), with the
/// path-aware step (<see cref="PathAwareObjective"/>) whose path ends at the backdoored input weights.
/// Units: "generator-pretrain", then per round "roundR.feature-mask", "roundR.generator", "roundR.unlearn-pam"; with
/// <see cref="PamOptions.Bti"/> null only the unlearning units, on D alone; rounds after <see cref="BtiOptions.GeneratorRounds"/>
/// have only their unlearning unit and use the last trained generator.
/// </summary>
/// <remarks>
/// NOTE: the authors keep one PAM optimiser across the rounds; each round's unlearning here is its own fine-tuning, so
/// SGD's momentum (0.1, i.e. a tenth of the last step) restarts at each round. The generator's Adam does carry across
/// rounds, as theirs (<see cref="GeneratorState"/>).
/// </remarks>
public sealed class PamDefense(PamOptions options) : IDefense
{
    public PamOptions Options { get; } = options;

    public string Name => "pam";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var bti = Options.Bti;
        var features = bti is null ? null : FeatureExtractor(input.Architecture);
        var unet = bti?.GeneratorFor(input.Clean.Channels, input.Clean.Height, input.Clean.Width);
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);
        var augmentation = OptionChecks.AugmentationFor(Options.Unlearning.Augment, input.Augmentation, input.Clean.Height);
        int batch = Options.Unlearning.BatchSize;

        GeneratorState? generator = null;
        if (bti is not null)
        {
            var unit = new DefenseUnit(0, "generator-pretrain", UnitKind.Tensors);
            generator = GeneratorState.FromTensors(run.Tensors(unit, checkpoint => BackdoorGenerator.Pretrain(features!, input.Parameters, unet!, input.Clean,
                input.Normalization, augmentation, batch, bti, UnitSeeds.For(input.Seed, 0, UnitSeeds.BtiPretrain),
                PurificationSteps.Progress(unit, observer), input.Cancellation, checkpoint).ToTensors()));
        }

        // BTI's round r: the feature mask on the current model, then the generator step from the last generator (towards t̂
        // from round 2); after round 1, t̂ (recomputed on a resumed run: it depends on round 1's generator and the seed alone).
        (GeneratorState Generator, int? Target) TrainGenerator(int r, ParameterSet start, GeneratorState from, int? towards)
        {
            var maskUnit = new DefenseUnit(r, "feature-mask", UnitKind.Tensors);
            var mask = FeatureMaskStep.Result.FromTensors(run.Tensors(maskUnit, checkpoint => FeatureMaskStep.Run(features!, start, input.Clean,
                input.Normalization, augmentation, batch, bti!, UnitSeeds.For(input.Seed, r, UnitSeeds.BtiMask),
                PurificationSteps.Progress(maskUnit, observer), input.Cancellation, checkpoint).ToTensors()), start);

            var generatorUnit = new DefenseUnit(r, "generator", UnitKind.Tensors);
            var trained = GeneratorState.FromTensors(run.Tensors(generatorUnit, checkpoint =>
            {
                var (state, share) = BackdoorGenerator.Step(features!, mask.Classifier, unet!, from, mask.Mask, towards, input.Clean, input.Normalization,
                    augmentation, batch, bti!, UnitSeeds.For(input.Seed, r, UnitSeeds.BtiGenerator), PurificationSteps.Progress(generatorUnit, observer),
                    input.Cancellation, checkpoint);
                observer?.Progress(generatorUnit, $"round {r}: {share:P0} of the generator's batches were pulled back to the image (MSE above the bounds)");
                return state.ToTensors();
            }));
            if (r != 1) return (trained, towards);
            var (detected, counts) = BackdoorGenerator.DetectTarget(input.Architecture, start, unet!, trained.Weights, input.Clean, input.Normalization,
                augmentation, batch, bti!.TargetNoise, UnitSeeds.For(input.Seed, 1, UnitSeeds.BtiTarget));
            observer?.Progress(generatorUnit, $"target class t̂ = {detected} (predictions on G(x + noise) per class: {string.Join(", ", counts)})");
            run.Record("pam", new JsonObject { ["detected_target"] = detected, ["predictions_per_class"] = new JsonArray([.. counts.Select(c => JsonValue.Create(c))]) });
            return (trained, detected);
        }

        var model = input.Parameters;
        BackdoorScores? after = before;
        int? target = null;
        for (int round = 1; round <= Options.Rounds; round++)
        {
            var objective = input.Objective;
            if (bti is not null)
            {
                if (bti.TrainsGeneratorIn(round)) (generator, target) = TrainGenerator(round, model, generator!, target);
                objective = new SyntheticBackdoorBatches(objective, unet!, generator!.Weights, bti, UnitSeeds.For(input.Seed, round, UnitSeeds.BtiBatches));
            }

            var pam = new PathAwareObjective(objective, input.Parameters.Clone(), Options.Rho);
            var steps = new PurificationSteps(input with { Objective = pam });
            var unlearnUnit = new DefenseUnit(round, "unlearn-pam", UnitKind.FineTune);
            var current = model;
            int seed = UnitSeeds.For(input.Seed, round, UnitSeeds.FineTune);
            model = run.Weights(unlearnUnit, checkpoint => steps.FineTune(current, Options.Unlearning, seed, unlearnUnit, observer, checkpoint));
            after = run.Evaluate(round, "path-aware unlearning", model);
        }
        return run.Finish(model, before, after);
    }

    private static IFeatureExtractor FeatureExtractor(IArchitecture architecture) => architecture as IFeatureExtractor
        ?? throw new ArgumentException($"--defense pam: BTI-DBF masks the features the classifier head reads; architecture '{architecture.Config.Name}' does not expose them " +
                                       "(use one with a linear head: cnn-small, vgg*, preact-resnet18, resnet18, airnet), or --no-bti to unlearn on D alone.");
}

/// <summary>`--defense pam`: path-aware unlearning inside BTI-DBF(U) with the authors' defaults.</summary>
public sealed class PamPlugin : DefensePlugin
{
    private static readonly PamOptions D = new();
    private static readonly BtiOptions B = new();
    private static readonly DefenseKnob Rho = DefenseKnob.Number("pam_rho", D.Rho, "Radius ρ of the step along the path back to the backdoored weights (the authors' ablation: 0.3–0.9).");
    private static readonly DefenseKnob Rounds = DefenseKnob.Integer("pam_rounds", D.Rounds, "BTI-DBF(U) rounds: feature mask, generator step, then the unlearning epochs.");
    private static readonly DefenseKnob Bti = DefenseKnob.Switch("bti", "Unlearn on D alone, without BTI-DBF's generator and its synthetic backdoor images (a variant, not the authors' defence).");
    private static readonly DefenseKnob Pretrain = DefenseKnob.Integer("bti_pretrain_epochs", B.PretrainEpochs, "Epochs of the generator's pre-training on D.");
    private static readonly DefenseKnob MaskEpochs = DefenseKnob.Integer("bti_mask_epochs", B.MaskEpochs, "Epochs of the feature-mask step per round.");
    private static readonly DefenseKnob GeneratorEpochs = DefenseKnob.Integer("bti_generator_epochs", B.GeneratorEpochs, "Epochs of the generator step per round.");
    private static readonly DefenseKnob GeneratorLr = DefenseKnob.Number("bti_generator_lr", B.GeneratorLearningRate, "Adam's rate for the generator.");
    private static readonly DefenseKnob MaskLr = DefenseKnob.Number("bti_mask_lr", B.MaskLearningRate, "Adam's rate for the feature mask.");
    private static readonly DefenseKnob NormBound = DefenseKnob.Number("bti_norm_bound", B.NormBound, "Above this MSE(x, G(x)) a generator batch trains on that MSE alone.");
    private static readonly DefenseKnob FeatureBound = DefenseKnob.Number("bti_feature_bound", B.FeatureBound, "Likewise above this benign-feature MSE.");
    private static readonly DefenseKnob Replaced = DefenseKnob.Number("bti_replaced", B.ReplacedShare, "Share of an unlearning batch replaced by G(x) (int(share·B + 1) images, true labels).");
    private static readonly DefenseKnob Blocks = DefenseKnob.Integer("bti_unet_blocks", B.UNetBlocks, "U-Net depth (fewer blocks when the image side does not halve that often).");
    private static readonly DefenseKnob Width = DefenseKnob.Integer("bti_unet_width", B.UNetWidth, "Filters of the U-Net's first block (doubled per block, at most 512).");
    private static readonly DefenseKnob GeneratorRounds = new("bti_generator_rounds", DefenseKnob.OptionFor("bti_generator_rounds"), KnobKind.Integer, "every round",
        "Rounds that run the mask and generator steps; later ones unlearn with the last generator (1: the authors' code, which freezes G after round 1).");

    public override string Name => "pam";
    public override string Summary => "Path-Aware Minimization (PAM) inside BTI-DBF(U): 3 rounds of feature mask, U-Net backdoor generator and 30 epochs of unlearning with 20% synthetic backdoor images, ρ 0.5 (the authors' defaults).";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Rho, Rounds, TrainingKnobs.BatchSize(D.Unlearning.BatchSize, "every step"), TrainingKnobs.FineTuneEpochs(D.Unlearning),
        TrainingKnobs.FineTuneLr(D.Unlearning), TrainingKnobs.Augment("Train"), Bti, Pretrain, MaskEpochs, GeneratorEpochs, GeneratorLr, MaskLr,
        NormBound, FeatureBound, Replaced, Blocks, Width, GeneratorRounds,
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var bti = B with
        {
            PretrainEpochs = s.Integer(Pretrain) ?? B.PretrainEpochs,
            MaskEpochs = s.Integer(MaskEpochs) ?? B.MaskEpochs,
            GeneratorEpochs = s.Integer(GeneratorEpochs) ?? B.GeneratorEpochs,
            GeneratorLearningRate = s.Number(GeneratorLr) ?? B.GeneratorLearningRate,
            MaskLearningRate = s.Number(MaskLr) ?? B.MaskLearningRate,
            NormBound = s.Number(NormBound) ?? B.NormBound,
            FeatureBound = s.Number(FeatureBound) ?? B.FeatureBound,
            ReplacedShare = s.Number(Replaced) ?? B.ReplacedShare,
            UNetBlocks = s.Integer(Blocks) ?? B.UNetBlocks,
            UNetWidth = s.Integer(Width) ?? B.UNetWidth,
            GeneratorRounds = s.Integer(GeneratorRounds),
        };
        var options = D with
        {
            Unlearning = TrainingKnobs.FineTune(D.Unlearning, s),
            Rho = s.Number(Rho) ?? D.Rho,
            Rounds = s.Integer(Rounds) ?? D.Rounds,
            Bti = s.IsOn(Bti) ? bti : null,
        };
        options.Validate();
        return new PamDefense(options);
    }
}
