using System.CommandLine;
using System.Globalization;
using Circumvent.Method.Attacks;

namespace Circumvent.Cli.Commands;

/// <summary>
/// The backdoor-attack options shared by `train` (which poisons its training set) and `eval` / later
/// commands (which measure ASR and RA). Defaults: --poison-rate 0.05, --target 0, --patch-size 3,
/// --alpha 0.2 — the TSC paper's BadNet/Blended settings.
/// </summary>
internal sealed class AttackOptions
{
    private readonly bool _withPoisonRate;

    private AttackOptions(bool withPoisonRate)
    {
        _withPoisonRate = withPoisonRate;
        var defaults = new AttackDefinition();
        Attack = new Option<string>("--attack") { Description = $"Backdoor attack: {string.Join(" or ", AttackDefinition.Kinds)}." };
        PoisonRate = Options.Make("--poison-rate", "Share of the training set poisoned (non-target samples get the trigger and the target label), in (0, 1).", defaults.PoisonRate);
        Target = Options.Make("--target", "Target class of the all-to-one attack.", defaults.Target);
        TriggerImage = new Option<string>("--trigger-image") { Description = "Trigger image (PPM/PGM or .npy): required for blended; for badnet it replaces the white square." };
        PatchSize = Options.Make("--patch-size", "BadNet: side of the square patch in the bottom-right corner.", defaults.PatchSize);
        Alpha = Options.Make("--alpha", "Blended: trigger weight α in x' = (1−α)x + αk.", defaults.Alpha);
    }

    public Option<string> Attack { get; }
    public Option<double> PoisonRate { get; }
    public Option<int> Target { get; }
    public Option<string> TriggerImage { get; }
    public Option<int> PatchSize { get; }
    public Option<double> Alpha { get; }

    /// <summary>The options of `train`, --poison-rate included.</summary>
    public static AttackOptions ForTraining() => new(withPoisonRate: true);

    /// <summary>The options of evaluation commands (no --poison-rate: nothing is poisoned there).</summary>
    public static AttackOptions ForEvaluation() => new(withPoisonRate: false);

    public IEnumerable<Option> All =>
        _withPoisonRate
            ? new Option[] { Attack, PoisonRate, Target, TriggerImage, PatchSize, Alpha }
            : new Option[] { Attack, Target, TriggerImage, PatchSize, Alpha };

    public void AddTo(Command command)
    {
        foreach (var option in All) command.Options.Add(option);
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
            var given = All.Skip(1).FirstOrDefault(o => IsGiven(parse, o));
            if (given is not null)
                throw new UsageException($"{given.Name} needs --attack {string.Join("|", AttackDefinition.Kinds)}.");
            return null;
        }

        // Fresh definitions take every option's value (defaults included); stored ones only what was typed.
        bool fresh = kind is not null;
        if (_withPoisonRate && (fresh || IsGiven(parse, PoisonRate))) definition = definition with { PoisonRate = parse.GetValue(PoisonRate) };
        if (fresh || IsGiven(parse, Target)) definition = definition with { Target = parse.GetValue(Target) };
        if (fresh || IsGiven(parse, PatchSize)) definition = definition with { PatchSize = parse.GetValue(PatchSize) };
        if (fresh || IsGiven(parse, Alpha)) definition = definition with { Alpha = parse.GetValue(Alpha) };
        if (IsGiven(parse, TriggerImage)) definition = definition with { TriggerImage = CheckTriggerImage(parse.GetValue(TriggerImage)) };

        if (!(definition.PoisonRate > 0 && definition.PoisonRate < 1))
            throw new UsageException($"--poison-rate must be in (0, 1), got {definition.PoisonRate.ToString(CultureInfo.InvariantCulture)}.");
        if (definition.Target < 0)
            throw new UsageException($"--target must be a class index ≥ 0, got {definition.Target}.");
        if (definition.TriggerImage is { } path && !File.Exists(path))
            throw new UsageException($"trigger image '{path}' (recorded in the model's attack) not found; pass --trigger-image PATH.");
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

    private static string CheckTriggerImage(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException("--trigger-image needs a file path.");
        if (!File.Exists(path)) throw new UsageException($"--trigger-image '{path}': file not found.");
        // Stored as a full path so the checkpoint's attack still resolves from another working folder.
        return Path.GetFullPath(path);
    }

    private static bool IsGiven(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
