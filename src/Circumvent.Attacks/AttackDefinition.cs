using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Circumvent.Attacks;

/// <summary>
/// A backdoor attack as data: what the trigger is and which class it points to. Stored as JSON in
/// checkpoint metadata ("circumvent.attack") so a backdoored model carries its own ASR test.
/// All-to-one: every poisoned sample is relabelled to <see cref="Target"/>.
/// </summary>
public sealed record AttackDefinition
{
    public const string BadNetKind = "badnet";
    public const string BlendedKind = "blended";
    public const string SigKind = "sig";
    public const string LfKind = "lf";
    public const string WaNetKind = "wanet";
    public const string LcKind = "lc";
    public const string InputAwareKind = "input-aware";
    public const string NarcissusKind = "narcissus";
    public const string SsbaKind = "ssba";
    public const string SapaKind = "sapa";
    public static IReadOnlyList<string> Kinds { get; } = [BadNetKind, BlendedKind, SigKind, LfKind, WaNetKind, LcKind, InputAwareKind, NarcissusKind, SsbaKind, SapaKind];
    /// <summary>Clean-label attacks poison target-class samples only and keep every label.</summary>
    public static IReadOnlyList<string> CleanLabelKinds { get; } = [SigKind, LcKind, NarcissusKind, SapaKind];

    /// <summary>One of <see cref="Kinds"/>.</summary>
    public string Kind { get; init; } = BadNetKind;
    /// <summary>The class every triggered image should be classified as.</summary>
    public int Target { get; init; }
    /// <summary>
    /// Share of the whole training set that is poisoned, in (0, 1): round(rate·N) samples drawn from
    /// the non-target samples (clean-label attacks: from the target class). InputAware: the share of
    /// every training batch that gets its own trigger and the target label (p_attack).
    /// </summary>
    public double PoisonRate { get; init; } = 0.05;

    /// <summary>BadNet: side of the square patch in pixels (a trigger image's size is <see cref="PatchImageSize"/>).</summary>
    public int PatchSize { get; init; } = 3;
    /// <summary>
    /// BadNet with a <see cref="TriggerImage"/>: the side the image is resized to (bilinear) before it is pasted;
    /// null = pasted at its own size. A field of its own (not <see cref="PatchSize"/>, always written) so that a
    /// stored definition from before it existed still pastes its image unscaled.
    /// </summary>
    public int? PatchImageSize { get; init; }
    /// <summary>BadNet: top row of the patch; null = flush with the bottom edge (rows H−size..H−1).</summary>
    public int? PatchRow { get; init; }
    /// <summary>BadNet: left column of the patch; null = flush with the right edge (cols W−size..W−1).</summary>
    public int? PatchColumn { get; init; }
    /// <summary>BadNet: the value written into every channel of the square patch (255 = white).</summary>
    public int PatchColour { get; init; } = 255;

    /// <summary>
    /// BadNet: optional image pasted as the patch at its own size; Blended: the image blended into
    /// every input (required); LF: the additive pattern, a uint8/float .npy of shape (H, W, C)
    /// (required); Narcissus: the trigger δ, a float .npy (1, C, H, W) in the authors' mean-0.5/std-0.5 space
    /// (required, see <see cref="NarcissusTrigger"/>). Stored as a full path.
    /// </summary>
    public string? TriggerImage { get; init; }
    /// <summary>Blended: weight of the trigger image, x' = (1−α)·x + α·k.</summary>
    public double Alpha { get; init; } = 0.2;

    /// <summary>SIG: amplitude Δ on the 0–255 scale of x' = x + Δ·sin(2π·f·j/W).</summary>
    public double SigDelta { get; init; } = 40;
    /// <summary>SIG: frequency f (periods across the image width).</summary>
    public double SigFrequency { get; init; } = 6;

    /// <summary>WaNet: side k of the random control grid of the flow field.</summary>
    public int WarpGrid { get; init; } = 4;
    /// <summary>WaNet: warping strength s.</summary>
    public double WarpStrength { get; init; } = 0.5;
    /// <summary>WaNet: factor the warped grid is scaled by before clamping to [−1, 1].</summary>
    public double GridRescale { get; init; } = 1;
    /// <summary>WaNet noise mode: extra samples per poisoned one that get the warp plus jitter and keep their label (0 = off).</summary>
    public int NoiseRatio { get; init; } = 2;
    /// <summary>WaNet: seed of the random flow field (the trigger itself, so it is part of the definition).</summary>
    public int Seed { get; init; }

    /// <summary>LC: the clean model (.safetensors) PGD attacks; SAPA: the surrogate its poisons are matched on. Needed to poison a training set, not to test.</summary>
    public string? CleanModel { get; init; }
    /// <summary>LC: L∞ radius of the PGD perturbation on the 0–255 scale (8 = 8/255).</summary>
    public double PgdEpsilon { get; init; } = 8;
    /// <summary>LC: PGD step size on the 0–255 scale.</summary>
    public double PgdStepSize { get; init; } = 2;
    /// <summary>LC: number of PGD steps.</summary>
    public int PgdSteps { get; init; } = 10;

    /// <summary>InputAware: share of every training batch that gets another image's trigger and keeps its label (p_cross).</summary>
    public double CrossRate { get; init; } = 0.1;
    /// <summary>InputAware: epochs the mask network is trained alone (diversity + mask-norm losses) before it is frozen.</summary>
    public int MaskEpochs { get; init; } = 25;
    /// <summary>InputAware: the mask-norm loss penalises mask values above this density.</summary>
    public double MaskDensity { get; init; } = 0.032;
    /// <summary>
    /// InputAware: the trained trigger generator and mask network (a safetensors file written beside the
    /// model by training, stored as a full path); needed to measure ASR, not to train.
    /// </summary>
    public string? Generators { get; init; }

    /// <summary>Narcissus: the test-time trigger is this multiple of δ (the authors' multi_test = 3); training adds δ itself.</summary>
    public double TestAmplification { get; init; } = 3;

    /// <summary>
    /// SBL (Pham et al., ECCV 2024): train the poisoned model with its two-task schedule (null: plain training).
    /// Any data-poisoning attack's trigger; the schedule only changes how the attacker trains.
    /// </summary>
    public SblSchedule? Sbl { get; init; }

    /// <summary>
    /// SSBA: the trained StegaStamp encoder/decoder (a safetensors file written beside the model by training,
    /// or given; stored as a full path); needed to poison and to measure ASR.
    /// </summary>
    public string? Encoder { get; init; }
    /// <summary>SSBA: SHA-256 (hex) of <see cref="Encoder"/>'s file, recorded when the model is trained; a different file is refused.</summary>
    public string? EncoderSha256 { get; init; }
    /// <summary>SSBA: seed of the one bit string embedded in every poisoned and triggered image (the trigger itself).</summary>
    public int SecretSeed { get; init; }
    /// <summary>SSBA encoder training: fingerprint length L in bits (the authors' 100).</summary>
    public int FingerprintBits { get; init; } = 100;
    /// <summary>SSBA encoder training: channel multiplier of the encoder and decoder (1 = the published widths).</summary>
    public double EncoderWidth { get; init; } = 1;
    /// <summary>SSBA encoder training: epochs over its images (the authors' 20).</summary>
    public int EncoderEpochs { get; init; } = 20;
    /// <summary>SSBA encoder training: images drawn from the training set (0 = all of it).</summary>
    public int EncoderImages { get; init; }
    /// <summary>SSBA encoder training: Adam's learning rate (the authors' 1e-4).</summary>
    public double EncoderLearningRate { get; init; } = 1e-4;

    /// <summary>SAPA: L∞ bound of the poison perturbations on the 0–255 scale (the authors' 16).</summary>
    public double SapaEpsilon { get; init; } = 16;
    /// <summary>SAPA: signAdam steps of the gradient matching (the authors' 250; the small-scale recipe's 100).</summary>
    public int SapaSteps { get; init; } = 100;
    /// <summary>SAPA: σ, the radius of the sharpness-aware weight perturbation (0 = Sleeper Agent).</summary>
    public double SapaSigma { get; init; } = 0.01;
    /// <summary>SAPA: signAdam's step size in the surrogate's normalised input units (the authors' tau 0.1), ×0.1 at 3/8, 5/8, 7/8 of the steps.</summary>
    public double SapaLearningRate { get; init; } = 0.1;
    /// <summary>SAPA: patched non-target training images whose gradient the poisons match (the authors' 1,000; small scale 200).</summary>
    public int SapaSources { get; init; } = 200;
    /// <summary>
    /// SAPA: every crafting step gives each poison a random crop (4 pixels) and flip before the matching, the CIFAR-10 training
    /// recipe's (the authors' differentiable augmentation, `paugment`); false: the poisons are matched at one alignment.
    /// </summary>
    public bool SapaAugment { get; init; }
    /// <summary>
    /// SAPA: T, how often the surrogate is retrained from scratch on the training set with the current poisons while they are
    /// crafted (the authors' T = 4; after every ⌊steps/(T+1)⌋ steps), by the surrogate checkpoint's own training recipe; 0: a fixed surrogate.
    /// </summary>
    public int SapaRetrainings { get; init; }
    /// <summary>
    /// SAPA: poison the target-class images with the largest training-gradient norm under the surrogate (Sleeper Agent's default
    /// poison selection, max_gradient) instead of a random draw.
    /// </summary>
    public bool SapaSelectPoisons { get; init; }
    /// <summary>SAPA: side of the square colourful patch (the test-time trigger, bottom-right; the authors' 8 at 32×32).</summary>
    public int SapaPatchSize { get; init; } = 8;

    [JsonIgnore]
    public bool IsCleanLabel => CleanLabelKinds.Contains(Kind);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field (by its CLI option).</summary>
    public void Validate()
    {
        if (!Kinds.Contains(Kind))
            throw new ArgumentException($"--attack must be one of {string.Join(", ", Kinds)}, got '{Kind}'.");
        if (Target < 0)
            throw new ArgumentException($"--target must be a class index ≥ 0, got {Target}.");
        if (!(PoisonRate > 0 && PoisonRate < 1))
            throw new ArgumentException($"--poison-rate must be in (0, 1), got {Format(PoisonRate)}.");
        switch (Kind)
        {
            case BadNetKind:
                if (PatchSize < 1) throw new ArgumentException($"--patch-size must be at least 1, got {PatchSize}.");
                if (PatchRow < 0 || PatchColumn < 0)
                    throw new ArgumentException($"The patch position must be ≥ 0, got row {PatchRow}, column {PatchColumn}.");
                if (PatchColour is < 0 or > 255) throw new ArgumentException($"The patch colour must be in 0..255, got {PatchColour}.");
                if (PatchImageSize is int side && (side < 1 || string.IsNullOrEmpty(TriggerImage)))
                    throw new ArgumentException(side < 1
                        ? $"--patch-size must be at least 1, got {side}."
                        : "patch_image_size resizes a trigger image; it needs trigger_image.");
                break;
            case BlendedKind:
                if (string.IsNullOrEmpty(TriggerImage))
                    throw new ArgumentException("The blended attack needs --trigger-image PATH (a PNG, JPEG, PPM/PGM or .npy image).");
                if (!(Alpha > 0 && Alpha <= 1))
                    throw new ArgumentException($"--alpha must be in (0, 1], got {Format(Alpha)}.");
                break;
            case SigKind:
                if (!(SigDelta > 0 && SigDelta <= 255)) throw new ArgumentException($"--sig-delta must be in (0, 255], got {Format(SigDelta)}.");
                if (!(SigFrequency > 0) || double.IsInfinity(SigFrequency)) throw new ArgumentException($"--sig-frequency must be a positive number, got {Format(SigFrequency)}.");
                break;
            case LfKind:
                if (string.IsNullOrEmpty(TriggerImage))
                    throw new ArgumentException("The lf attack needs --trigger-image PATH (a .npy pattern of shape (H, W, C)).");
                break;
            case WaNetKind:
                if (WarpGrid < 2) throw new ArgumentException($"--warp-grid must be at least 2, got {WarpGrid}.");
                if (!(WarpStrength >= 0) || double.IsInfinity(WarpStrength)) throw new ArgumentException($"--warp-strength must be a finite value ≥ 0, got {Format(WarpStrength)}.");
                if (!(GridRescale > 0) || double.IsInfinity(GridRescale)) throw new ArgumentException($"--grid-rescale must be a positive number, got {Format(GridRescale)}.");
                if (NoiseRatio < 0) throw new ArgumentException($"--noise-ratio must be ≥ 0, got {NoiseRatio}.");
                break;
            case LcKind:
                if (!(PgdEpsilon >= 0 && PgdEpsilon <= 255)) throw new ArgumentException($"--pgd-eps must be in [0, 255], got {Format(PgdEpsilon)}.");
                if (!(PgdStepSize > 0 && PgdStepSize <= 255)) throw new ArgumentException($"--pgd-step must be in (0, 255], got {Format(PgdStepSize)}.");
                if (PgdSteps < 0) throw new ArgumentException($"--pgd-steps must be ≥ 0, got {PgdSteps}.");
                break;
            case NarcissusKind:
                if (string.IsNullOrEmpty(TriggerImage))
                    throw new ArgumentException("The narcissus attack needs --trigger-image PATH (the trigger δ as a float .npy of shape (1, 3, H, W), e.g. made by narcissus-trigger).");
                if (!(TestAmplification > 0) || double.IsInfinity(TestAmplification))
                    throw new ArgumentException($"--test-amplification must be a positive number, got {Format(TestAmplification)}.");
                break;
            case InputAwareKind:
                if (!(CrossRate >= 0 && CrossRate < 1)) throw new ArgumentException($"--cross-rate must be in [0, 1), got {Format(CrossRate)}.");
                if (!(PoisonRate + CrossRate < 1))
                    throw new ArgumentException($"--poison-rate + --cross-rate must leave clean samples in every batch (sum < 1), got {Format(PoisonRate)} + {Format(CrossRate)}.");
                if (MaskEpochs < 1) throw new ArgumentException($"--mask-epochs must be at least 1, got {MaskEpochs}.");
                if (!(MaskDensity > 0 && MaskDensity <= 1)) throw new ArgumentException($"--mask-density must be in (0, 1], got {Format(MaskDensity)}.");
                break;
            case SapaKind:
                if (!(SapaEpsilon > 0 && SapaEpsilon <= 255)) throw new ArgumentException($"--sapa-eps must be in (0, 255], got {Format(SapaEpsilon)}.");
                if (SapaSteps < 1) throw new ArgumentException($"--sapa-steps must be at least 1, got {SapaSteps}.");
                if (!(SapaSigma >= 0) || double.IsInfinity(SapaSigma)) throw new ArgumentException($"--sapa-sigma must be a finite value ≥ 0, got {Format(SapaSigma)}.");
                if (!(SapaLearningRate > 0) || double.IsInfinity(SapaLearningRate)) throw new ArgumentException($"--sapa-lr must be a positive number, got {Format(SapaLearningRate)}.");
                if (SapaSources < 1) throw new ArgumentException($"--sapa-sources must be at least 1, got {SapaSources}.");
                if (SapaPatchSize < 1) throw new ArgumentException($"--sapa-patch-size must be at least 1, got {SapaPatchSize}.");
                if (SapaRetrainings < 0 || SapaRetrainings >= SapaSteps)
                    throw new ArgumentException($"--sapa-retrain must be ≥ 0 and less than --sapa-steps ({SapaSteps}), got {SapaRetrainings}.");
                break;
            case SsbaKind:
                if (FingerprintBits < 1) throw new ArgumentException($"--fingerprint-bits must be at least 1, got {FingerprintBits}.");
                if (!(EncoderWidth > 0) || double.IsInfinity(EncoderWidth)) throw new ArgumentException($"--encoder-width must be a positive number, got {Format(EncoderWidth)}.");
                if (EncoderEpochs < 1) throw new ArgumentException($"--encoder-epochs must be at least 1, got {EncoderEpochs}.");
                if (EncoderImages < 0) throw new ArgumentException($"--encoder-images must be ≥ 0 (0 = the whole training set), got {EncoderImages}.");
                if (!(EncoderLearningRate > 0) || double.IsInfinity(EncoderLearningRate)) throw new ArgumentException($"--encoder-lr must be a positive number, got {Format(EncoderLearningRate)}.");
                break;
        }
        if (Sbl is not null)
        {
            if (Kind == InputAwareKind)
                throw new ArgumentException("--sbl trains on a fixed poisoned set; input-aware poisons on the fly, so they do not combine.");
            Sbl.Validate();
        }
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Fields only one attack uses, written only for that kind. BadNet's and Blended's fields are always
    /// written, as before the later attacks existed, so stored definitions — and the experiment runner's
    /// cell and model keys, hashed from this JSON — stay the same; a plan naming another attack's field fails.
    /// </summary>
    private static readonly Dictionary<string, string> OwnKindFields = new(StringComparer.Ordinal)
    {
        ["sig_delta"] = SigKind, ["sig_frequency"] = SigKind,
        ["warp_grid"] = WaNetKind, ["warp_strength"] = WaNetKind, ["grid_rescale"] = WaNetKind, ["noise_ratio"] = WaNetKind, ["seed"] = WaNetKind,
        ["pgd_epsilon"] = LcKind, ["pgd_step_size"] = LcKind, ["pgd_steps"] = LcKind,
        ["cross_rate"] = InputAwareKind, ["mask_epochs"] = InputAwareKind, ["mask_density"] = InputAwareKind, ["generators"] = InputAwareKind,
        ["test_amplification"] = NarcissusKind,
        ["encoder"] = SsbaKind, ["encoder_sha256"] = SsbaKind, ["secret_seed"] = SsbaKind, ["fingerprint_bits"] = SsbaKind, ["encoder_width"] = SsbaKind,
        ["encoder_epochs"] = SsbaKind, ["encoder_images"] = SsbaKind, ["encoder_learning_rate"] = SsbaKind,
        ["sapa_epsilon"] = SapaKind, ["sapa_steps"] = SapaKind, ["sapa_sigma"] = SapaKind, ["sapa_learning_rate"] = SapaKind, ["sapa_sources"] = SapaKind, ["sapa_patch_size"] = SapaKind,
        ["sapa_augment"] = SapaKind, ["sapa_retrainings"] = SapaKind, ["sapa_select_poisons"] = SapaKind,
    };

    /// <summary>
    /// Switches added after models were cached under keys without them: written only when on (true, or a count other than 0), so a definition that leaves
    /// them off has the JSON (and the runner's keys) it had before.
    /// </summary>
    private static readonly HashSet<string> WrittenOnlyWhenOn = new(StringComparer.Ordinal) { "sapa_augment", "sapa_retrainings", "sapa_select_poisons" };

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { WriteOwnKindFieldsOnly } },
    };

    private static void WriteOwnKindFieldsOnly(JsonTypeInfo info)
    {
        if (info.Type != typeof(AttackDefinition)) return;
        foreach (var property in info.Properties)
            if (OwnKindFields.TryGetValue(property.Name, out var kind))
                property.ShouldSerialize = WrittenOnlyWhenOn.Contains(property.Name)
                    ? (definition, value) => ((AttackDefinition)definition).Kind == kind && value is true or (int and not 0)
                    : (definition, _) => ((AttackDefinition)definition).Kind == kind;
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates; throws <see cref="ArgumentException"/> for malformed JSON or bad values.</summary>
    public static AttackDefinition FromJson(string json)
    {
        AttackDefinition? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<AttackDefinition>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"Attack definition is not valid JSON: {e.Message}", e);
        }
        if (parsed is null) throw new ArgumentException("Attack definition JSON is null.");
        parsed.Validate();
        return parsed;
    }
}
