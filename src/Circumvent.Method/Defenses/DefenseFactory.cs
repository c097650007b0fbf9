using Circumvent.Method.Curves;

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
    public static IReadOnlyList<string> Names { get; } = ["tsc", "mcr", "ft", "none"];

    /// <summary>Throws <see cref="ArgumentException"/> naming the offending setting by its `purify` option.</summary>
    public static IDefense Create(string name, DefenseKnobs k)
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
        void Reject(string option, bool given)
        {
            if (given) throw new ArgumentException($"{option} does not apply to --defense {name}.");
        }

        switch (name)
        {
            case "tsc":
            {
                var d = new TscOptions();
                var options = d with { Rounds = k.Rounds ?? d.Rounds, T = k.T ?? d.T, Curve = Curve(d.Curve), FineTune = Tune(d.FineTune) };
                options.Validate();
                return new Tsc(options);
            }
            case "mcr":
            {
                Reject("--rounds", k.Rounds is not null);
                var d = new McrOptions();
                var options = d with { T = k.T ?? d.T, Curve = Curve(d.Curve), FineTune = Tune(d.FineTune) };
                options.Validate();
                return new Mcr(options);
            }
            case "ft":
            {
                Reject("--rounds", k.Rounds is not null);
                Reject("--t", k.T is not null);
                Reject("--curve-epochs", k.CurveEpochs is not null);
                Reject("--curve-lr", k.CurveLr is not null);
                var settings = Tune(FineTuneDefense.Defaults);
                settings.Validate(allowZeroEpochs: false);
                return new FineTuneDefense(settings);
            }
            case "none":
                return new NoDefense();
            default:
                throw new ArgumentException($"--defense must be one of {string.Join(", ", Names)}, got '{name}'.");
        }
    }
}
