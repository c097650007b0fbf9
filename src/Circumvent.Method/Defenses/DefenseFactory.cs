using Circumvent.Method.Curves;
using Circumvent.Method.Defenses.Anp;
using Circumvent.Method.Defenses.FtSam;
using Circumvent.Method.Defenses.NeuralCleanse;

namespace Circumvent.Method.Defenses;

/// <summary>
/// The tunable settings of a defence as a user gives them (null = the chosen defence's default).
/// Shared by `purify`'s options and experiment plans.
/// </summary>
public sealed record DefenseKnobs(int? Rounds = null, double? T = null, int? CurveEpochs = null, double? CurveLr = null, int? BatchSize = null,
    int? FineTuneEpochs = null, double? FineTuneLr = null, bool Augment = true);

/// <summary>Builds a defence by name from <see cref="DefenseKnobs"/>, validated before anything is loaded or written.</summary>
public static class DefenseFactory
{
    public static IReadOnlyList<string> Names { get; } = ["tsc", "mcr", "ft", "none", "nc", "anp", "ft-sam"];

    /// <summary>Every knob by its `purify` option, and whether it was given (augmentation: turned off).</summary>
    private static readonly (string Option, Func<DefenseKnobs, bool> Given)[] Knobs =
    [
        ("--rounds", k => k.Rounds is not null), ("--t", k => k.T is not null),
        ("--curve-epochs", k => k.CurveEpochs is not null), ("--curve-lr", k => k.CurveLr is not null),
        ("--batch-size", k => k.BatchSize is not null), ("--finetune-epochs", k => k.FineTuneEpochs is not null),
        ("--finetune-lr", k => k.FineTuneLr is not null), ("--no-augment", k => !k.Augment),
    ];

    /// <summary>The knobs each defence uses; one given to a defence that ignores it is refused rather than silently dropped.</summary>
    private static readonly Dictionary<string, string[]> Uses = new()
    {
        ["tsc"] = [.. Knobs.Select(k => k.Option)],
        ["mcr"] = [.. Knobs.Select(k => k.Option).Where(o => o != "--rounds")],
        ["ft"] = ["--batch-size", "--finetune-epochs", "--finetune-lr", "--no-augment"],
        ["none"] = [],
        // Until defences are plug-ins with knobs of their own, the field's defences run at BackdoorBench's defaults
        // with only the shared knobs (NC's batch size and fine-tuning knobs are its unlearning's; ANP has no fine-tuning).
        ["nc"] = ["--batch-size", "--finetune-epochs", "--finetune-lr", "--no-augment"],
        ["anp"] = ["--batch-size", "--no-augment"],
        ["ft-sam"] = ["--batch-size", "--finetune-epochs", "--finetune-lr", "--no-augment"],
    };

    private static void RejectForeignKnobs(string name, DefenseKnobs k)
    {
        if (!Uses.TryGetValue(name, out var used)) return; // an unknown name is reported by Create
        var foreign = Knobs.FirstOrDefault(knob => knob.Given(k) && !used.Contains(knob.Option));
        if (foreign.Option is not null)
            throw new ArgumentException($"{foreign.Option} does not apply to --defense {name}" +
                                        (used.Length == 0 ? " (it has no settings)." : $" (it uses {string.Join(", ", used)})."));
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the offending setting by its `purify` option.</summary>
    /// <param name="selfSupervised">Start from the self-supervised defaults (<see cref="TscOptions.SelfSupervised"/>,
    /// <see cref="McrOptions.SelfSupervised"/>): the defence of an encoder under NT-Xent.</param>
    public static IDefense Create(string name, DefenseKnobs k, bool selfSupervised = false)
    {
        CurveOptions Curve(CurveOptions d) => d with
        {
            Epochs = k.CurveEpochs ?? d.Epochs,
            LearningRate = k.CurveLr ?? d.LearningRate,
            BatchSize = k.BatchSize ?? d.BatchSize,
            Augment = k.Augment,
        };
        FineTuneOptions Tune(FineTuneOptions d) => d with
        {
            Epochs = k.FineTuneEpochs ?? d.Epochs,
            LearningRate = k.FineTuneLr ?? d.LearningRate,
            BatchSize = k.BatchSize ?? d.BatchSize,
            Augment = k.Augment,
        };
        RejectForeignKnobs(name, k);

        switch (name)
        {
            case "tsc":
            {
                var d = selfSupervised ? TscOptions.SelfSupervised : new TscOptions();
                var options = d with
                {
                    Rounds = k.Rounds ?? d.Rounds, T = k.T ?? d.T, Curve = Curve(d.Curve), FineTune = Tune(d.FineTune),
                    // Without augmentation of D, matching sees D as stored too.
                    Matching = k.Augment ? d.Matching : d.Matching is { } m ? m with { Augment = false } : null,
                };
                options.Validate();
                return new Tsc(options);
            }
            case "mcr":
            {
                var d = selfSupervised ? McrOptions.SelfSupervised : new McrOptions();
                var options = d with { T = k.T ?? d.T, Curve = Curve(d.Curve), FineTune = Tune(d.FineTune) };
                options.Validate();
                return new Mcr(options);
            }
            case "ft":
            {
                // An encoder fine-tunes under NT-Xent as MCR's self-supervised endpoint does.
                var settings = Tune(selfSupervised ? McrOptions.SelfSupervised.FineTune : FineTuneDefense.Defaults);
                settings.Validate(allowZeroEpochs: false);
                return new FineTuneDefense(settings);
            }
            case "none":
                return new NoDefense();
            case "nc" or "anp" or "ft-sam" when selfSupervised:
                throw new ArgumentException($"--defense {name} works on classifiers (cross-entropy on labels); an encoder has none.");
            case "nc":
            {
                var d = new NeuralCleanseOptions();
                var options = d with { TriggerBatchSize = k.BatchSize ?? d.TriggerBatchSize, Unlearning = Tune(d.Unlearning) };
                options.Validate();
                return new NeuralCleanseDefense(options);
            }
            case "anp":
            {
                var d = new AnpOptions();
                var options = d with { BatchSize = k.BatchSize ?? d.BatchSize, Augment = k.Augment };
                options.Validate();
                return new AnpDefense(options);
            }
            case "ft-sam":
            {
                var d = new FtSamOptions();
                var options = d with { FineTune = Tune(d.FineTune) };
                options.Validate();
                return new FtSamDefense(options);
            }
            default:
                throw new ArgumentException($"--defense must be one of {string.Join(", ", Names)}, got '{name}'.");
        }
    }
}
