using System.CommandLine;
using System.Globalization;
using Circumvent.Attacks;

namespace Circumvent.Cli.Commands;

/// <summary>
/// The backdoor-attack options shared by `train` (which poisons its training set) and `eval` /
/// `purify` (which measure ASR and RA). Defaults are the TSC paper's (BackdoorBench) settings:
/// --poison-rate 0.05, --target 0, BadNet --patch-size 3, Blended --alpha 0.2, SIG Δ = 40 and f = 6,
/// WaNet k = 4, s = 0.5, grid rescale 1, noise ratio 2; LC PGD ε = 8, step 2, 10 steps (0–255 scale);
/// InputAware 10% backdoor and 10% cross samples per batch, 25 mask epochs, mask density 0.032;
/// SSBA's encoder: 100 bits, width 1, 20 epochs on the whole training set, Adam 1e-4 (BackdoorBench's recipe).
/// An option that belongs to another attack than --attack is rejected.
/// </summary>
internal sealed class AttackOptions
{
    private readonly bool _forTraining;
    private readonly List<Field> _fields = [];

    /// <summary>One typed option, the attack kinds it applies to (null = all) and how it sets the definition.</summary>
    private sealed record Field(Option Option, string[]? Kinds, Func<AttackDefinition, ParseResult, AttackDefinition> Apply);

    private AttackOptions(bool forTraining)
    {
        _forTraining = forTraining;
        var d = new AttackDefinition();
        Attack = new Option<string>("--attack") { Description = $"Backdoor attack: {string.Join(", ", AttackDefinition.Kinds)}." };
        if (forTraining)
            PoisonRate = Add("--poison-rate", "Share of the training set poisoned (non-target samples get the trigger and the target label; clean-label sig/lc: target-class samples, labels kept), in (0, 1); input-aware: share of every batch given its trigger (default 0.1).",
                d.PoisonRate, null, (a, v) => a with { PoisonRate = v });
        Target = Add("--target", "Target class of the all-to-one attack.", d.Target, null, (a, v) => a with { Target = v });
        PatchSize = Add("--patch-size", "BadNet: side of the square patch; with --trigger-image, the side the image is resized to (default: its own size).", d.PatchSize, [AttackDefinition.BadNetKind], (a, v) => a with { PatchSize = v });
        var position = new Option<string>("--patch-position") { Description = PatchPosition.Description };
        _fields.Add(new Field(position, [AttackDefinition.BadNetKind], (a, p) => PatchPosition.Apply(a, p.GetValue(position))));
        Alpha = Add("--alpha", "Blended: trigger weight α in x' = (1−α)x + αk.", d.Alpha, [AttackDefinition.BlendedKind], (a, v) => a with { Alpha = v });
        Add("--sig-delta", "SIG: amplitude Δ (0–255 scale) of x' = x + Δ·sin(2π·f·j/W).", d.SigDelta, [AttackDefinition.SigKind], (a, v) => a with { SigDelta = v });
        Add("--sig-frequency", "SIG: frequency f of the sinusoid (periods across the width).", d.SigFrequency, [AttackDefinition.SigKind], (a, v) => a with { SigFrequency = v });
        Add("--warp-grid", "WaNet: side k of the random control grid.", d.WarpGrid, [AttackDefinition.WaNetKind], (a, v) => a with { WarpGrid = v });
        Add("--warp-strength", "WaNet: warping strength s.", d.WarpStrength, [AttackDefinition.WaNetKind], (a, v) => a with { WarpStrength = v });
        Add("--grid-rescale", "WaNet: grid rescale factor.", d.GridRescale, [AttackDefinition.WaNetKind], (a, v) => a with { GridRescale = v });
        Add("--attack-seed", "WaNet: seed of the random flow field (the trigger itself).", d.Seed, [AttackDefinition.WaNetKind], (a, v) => a with { Seed = v });
        Add("--sapa-patch-size", "sapa: side of the colourful square patch, the test-time trigger (bottom-right).", d.SapaPatchSize, [AttackDefinition.SapaKind], (a, v) => a with { SapaPatchSize = v });
        Add("--secret-seed", "ssba: seed of the bit string embedded in every poisoned and triggered image (the trigger itself).", d.SecretSeed, [AttackDefinition.SsbaKind], (a, v) => a with { SecretSeed = v });
        var encoder = new Option<string>("--encoder") { Description = forTraining
            ? "ssba: a trained StegaStamp encoder (.ssba-encoder.safetensors) to poison with instead of training one."
            : "ssba: the trained StegaStamp encoder (NAME.ssba-encoder.safetensors, written beside the model by train)." };
        _fields.Add(new Field(encoder, [AttackDefinition.SsbaKind], (a, p) => a with { Encoder = CheckFile("--encoder", p.GetValue(encoder)) }));
        if (forTraining)
        {
            Add("--noise-ratio", "WaNet noise mode: jittered-trigger samples (true labels) per poisoned sample; 0 = off.", d.NoiseRatio, [AttackDefinition.WaNetKind], (a, v) => a with { NoiseRatio = v });
            Add("--pgd-eps", "LC: L∞ radius of the PGD perturbation, 0–255 scale (8 = 8/255).", d.PgdEpsilon, [AttackDefinition.LcKind], (a, v) => a with { PgdEpsilon = v });
            Add("--pgd-step", "LC: PGD step size, 0–255 scale.", d.PgdStepSize, [AttackDefinition.LcKind], (a, v) => a with { PgdStepSize = v });
            Add("--pgd-steps", "LC: number of PGD steps.", d.PgdSteps, [AttackDefinition.LcKind], (a, v) => a with { PgdSteps = v });
            Add("--cross-rate", "input-aware: share of every batch that gets another image's trigger and keeps its label (cross-trigger mode), in [0, 1).", d.CrossRate, [AttackDefinition.InputAwareKind], (a, v) => a with { CrossRate = v });
            Add("--mask-epochs", "input-aware: epochs the mask network trains alone before it is frozen.", d.MaskEpochs, [AttackDefinition.InputAwareKind], (a, v) => a with { MaskEpochs = v });
            Add("--mask-density", "input-aware: mask values above this density are penalised while the mask network trains.", d.MaskDensity, [AttackDefinition.InputAwareKind], (a, v) => a with { MaskDensity = v });
            Add("--fingerprint-bits", "ssba encoder: bits embedded per image (fingerprint length).", d.FingerprintBits, [AttackDefinition.SsbaKind], (a, v) => a with { FingerprintBits = v });
            Add("--encoder-width", "ssba encoder: channel multiplier of the encoder and decoder (1 = the published widths).", d.EncoderWidth, [AttackDefinition.SsbaKind], (a, v) => a with { EncoderWidth = v });
            Add("--encoder-epochs", "ssba encoder: training epochs.", d.EncoderEpochs, [AttackDefinition.SsbaKind], (a, v) => a with { EncoderEpochs = v });
            Add("--encoder-images", "ssba encoder: training images drawn from the training set (0 = all).", d.EncoderImages, [AttackDefinition.SsbaKind], (a, v) => a with { EncoderImages = v });
            Add("--encoder-lr", "ssba encoder: Adam learning rate.", d.EncoderLearningRate, [AttackDefinition.SsbaKind], (a, v) => a with { EncoderLearningRate = v });
            Add("--sapa-eps", "sapa: L∞ bound of the poison perturbations, 0–255 scale (16 = 16/255).", d.SapaEpsilon, [AttackDefinition.SapaKind], (a, v) => a with { SapaEpsilon = v });
            Add("--sapa-steps", "sapa: signAdam steps of the gradient matching (the authors' 250).", d.SapaSteps, [AttackDefinition.SapaKind], (a, v) => a with { SapaSteps = v });
            Add("--sapa-sigma", "sapa: radius σ of the sharpness-aware weight perturbation (0 = Sleeper Agent).", d.SapaSigma, [AttackDefinition.SapaKind], (a, v) => a with { SapaSigma = v });
            Add("--sapa-lr", "sapa: signAdam step size in the surrogate's normalised input units (the authors' tau), ×0.1 at 3/8, 5/8 and 7/8 of the steps.", d.SapaLearningRate, [AttackDefinition.SapaKind], (a, v) => a with { SapaLearningRate = v });
            Add("--sapa-sources", "sapa: patched non-target training images whose gradient the poisons match (the authors' 1,000).", d.SapaSources, [AttackDefinition.SapaKind], (a, v) => a with { SapaSources = v });
            Add("--sapa-augment", "sapa: give every poison a random crop (4 pixels) and flip at each crafting step, the CIFAR-10 training recipe's (the authors' paugment).", d.SapaAugment, [AttackDefinition.SapaKind], (a, v) => a with { SapaAugment = v });
            Add("--sapa-retrain", "sapa: retrain the surrogate from scratch T times while crafting, on the training set with the current poisons, by the --clean-model's own recipe (the authors' T = 4; 0 = a fixed surrogate).", d.SapaRetrainings, [AttackDefinition.SapaKind], (a, v) => a with { SapaRetrainings = v });
            Add("--sapa-select-poisons", "sapa: poison the target-class images with the largest training-gradient norm under the surrogate (the authors' max_gradient selection) instead of a random draw.", d.SapaSelectPoisons, [AttackDefinition.SapaKind], (a, v) => a with { SapaSelectPoisons = v });
            Sbl = new SblOptions();
            var cleanModel = new Option<string>("--clean-model") { Description = "lc: clean checkpoint (.safetensors) the PGD perturbation is computed against; sapa: the surrogate its poisons are matched on." };
            _fields.Add(new Field(cleanModel, [AttackDefinition.LcKind, AttackDefinition.SapaKind], (a, p) => a with { CleanModel = CheckFile("--clean-model", p.GetValue(cleanModel)) }));
        }
        else
        {
            var generators = new Option<string>("--generators") { Description = "input-aware: the trained trigger and mask networks (NAME.input-aware.safetensors, written beside the model by train)." };
            _fields.Add(new Field(generators, [AttackDefinition.InputAwareKind], (a, p) => a with { Generators = CheckFile("--generators", p.GetValue(generators)) }));
        }
        Add("--test-amplification", "narcissus: the test-time trigger is this multiple of δ (the authors' 3); training adds δ itself.", d.TestAmplification, [AttackDefinition.NarcissusKind], (a, v) => a with { TestAmplification = v });
        TriggerImage = new Option<string>("--trigger-image") { Description = "Trigger image: blended (PNG, JPEG, PPM/PGM or .npy, required), badnet (replaces the white square; --patch-size resizes it), lf (the additive .npy pattern (H, W, C), required), narcissus (the trigger δ, float .npy (1, 3, H, W) in the authors' mean-0.5/std-0.5 space, required)." };
        _fields.Add(new Field(TriggerImage, [AttackDefinition.BadNetKind, AttackDefinition.BlendedKind, AttackDefinition.LfKind, AttackDefinition.NarcissusKind],
            (a, p) => a with { TriggerImage = CheckFile("--trigger-image", p.GetValue(TriggerImage)) }));
    }

    /// <summary>InputAware's default share of every batch (the authors' p_attack), instead of the data-poisoning 5%.</summary>
    public const double InputAwarePoisonRate = 0.1;

    public Option<string> Attack { get; }
    /// <summary>Only on `train` (null elsewhere: nothing is poisoned there).</summary>
    public Option<double>? PoisonRate { get; }
    public Option<int> Target { get; }
    public Option<string> TriggerImage { get; }
    public Option<int> PatchSize { get; }
    public Option<double> Alpha { get; }

    /// <summary>The options of `train`, --poison-rate and the training-only knobs included.</summary>
    public static AttackOptions ForTraining() => new(forTraining: true);

    /// <summary>The options of evaluation commands (no --poison-rate, noise or PGD settings: nothing is poisoned there).</summary>
    public static AttackOptions ForEvaluation() => new(forTraining: false);

    /// <summary>SBL's schedule options (--sbl and its knobs), only on `train`.</summary>
    public SblOptions? Sbl { get; }

    public IEnumerable<Option> All => [Attack, .. _fields.Select(f => f.Option), .. Sbl?.All ?? []];

    /// <summary>The files these options name as given (trigger image, clean model, trigger networks), for <see cref="CommandFiles"/>.</summary>
    public IEnumerable<(string Option, string? Path)> Files(ParseResult parse) =>
        _fields.Select(f => f.Option).OfType<Option<string>>().Select(o => (o.Name, parse.GetValue(o)));

    public void AddTo(Command command)
    {
        foreach (var option in All) command.Options.Add(option);
    }

    private Option<T> Add<T>(string name, string description, T defaultValue, string[]? kinds, Func<AttackDefinition, T, AttackDefinition> set)
    {
        var option = Options.Make(name, description, defaultValue);
        _fields.Add(new Field(option, kinds, (a, p) => set(a, p.GetValue(option)!)));
        return option;
    }

    /// <summary>
    /// The attack the command line describes: a new definition when --attack is given; otherwise
    /// <paramref name="stored"/> (e.g. read from a checkpoint) with the explicitly given options
    /// overriding its fields; null when there is neither. Checks everything that does not need the
    /// dataset (the target's range is checked against the dataset later).
    /// </summary>
    public AttackDefinition? Parse(ParseResult parse, AttackDefinition? stored = null)
    {
        string? kind = parse.GetValue(Attack)?.Trim().ToLowerInvariant();
        if (kind is not null && !AttackDefinition.Kinds.Contains(kind))
            throw new UsageException($"--attack must be one of {string.Join(", ", AttackDefinition.Kinds)}, got '{parse.GetValue(Attack)}'.");

        AttackDefinition? definition = kind is not null ? new AttackDefinition { Kind = kind } : stored;
        if (definition is null)
        {
            var given = _fields.FirstOrDefault(f => IsGiven(parse, f.Option));
            if (given is not null)
                throw new UsageException($"{given.Option.Name} needs --attack {string.Join("|", given.Kinds ?? AttackDefinition.Kinds)}.");
            if (Sbl?.GivenOption(parse) is { } sblOption)
                throw new UsageException($"{sblOption} needs --attack: SBL trains a poisoning attack's backdoor.");
            return null;
        }

        foreach (var field in _fields.Where(f => IsGiven(parse, f.Option)))
            if (field.Kinds is not null && !field.Kinds.Contains(definition.Kind))
                throw new UsageException($"{field.Option.Name} does not apply to the {definition.Kind} attack (it is for {string.Join(", ", field.Kinds)}).");

        // Fresh definitions take every value option's value (defaults included); stored ones only what was typed.
        bool fresh = kind is not null;
        foreach (var field in _fields)
            if (IsGiven(parse, field.Option) || (fresh && field.Option is not Option<string>))
                definition = field.Apply(definition, parse);

        if (Sbl is not null) definition = Sbl.Apply(parse, definition);
        // A typed --patch-size sizes a BadNet trigger image too (instead of being ignored next to it).
        if (definition.Kind == AttackDefinition.BadNetKind && definition.TriggerImage is not null && IsGiven(parse, PatchSize))
            definition = definition with { PatchImageSize = definition.PatchSize };
        if (!(definition.PoisonRate > 0 && definition.PoisonRate < 1))
            throw new UsageException($"--poison-rate must be in (0, 1), got {definition.PoisonRate.ToString(CultureInfo.InvariantCulture)}.");
        if (definition.Target < 0)
            throw new UsageException($"--target must be a class index ≥ 0, got {definition.Target}.");
        if (definition.TriggerImage is { } path && !File.Exists(path))
            throw new UsageException($"trigger image '{path}' (recorded in the model's attack) not found; pass --trigger-image PATH.");
        if (fresh && definition.Kind == AttackDefinition.InputAwareKind && PoisonRate is not null && !IsGiven(parse, PoisonRate))
            definition = definition with { PoisonRate = InputAwarePoisonRate };
        if (definition.Generators is { } networks && !File.Exists(networks))
            throw new UsageException($"input-aware trigger networks '{networks}' (recorded in the model's attack) not found; pass --generators PATH.");
        if (definition.Encoder is { } stamp && !File.Exists(stamp))
            throw new UsageException($"ssba encoder '{stamp}' (recorded in the model's attack) not found; pass --encoder PATH.");
        if (!_forTraining && definition.Kind == AttackDefinition.SsbaKind && definition.Encoder is null)
            throw new UsageException("--attack ssba needs --encoder FILE: the trained StegaStamp encoder (NAME.ssba-encoder.safetensors beside the model).");
        if (!_forTraining && definition.Kind == AttackDefinition.InputAwareKind && definition.Generators is null)
            throw new UsageException("--attack input-aware needs --generators FILE: the trained trigger networks (NAME.input-aware.safetensors beside the model).");
        if (_forTraining && definition.Kind == AttackDefinition.LcKind && definition.CleanModel is null)
            throw new UsageException("--attack lc needs --clean-model PATH: the clean checkpoint the PGD perturbation is computed against.");
        if (_forTraining && definition.Kind == AttackDefinition.SapaKind && definition.CleanModel is null)
            throw new UsageException("--attack sapa needs --clean-model PATH: the clean surrogate checkpoint the poisons are matched on.");
        try
        {
            definition.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        return definition;
    }

    private static string CheckFile(string option, string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} needs a file path.");
        if (!File.Exists(path)) throw new UsageException($"{option} '{path}': file not found.");
        // Stored as a full path so the checkpoint's attack still resolves from another working folder.
        return Path.GetFullPath(path);
    }

    private static bool IsGiven(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
