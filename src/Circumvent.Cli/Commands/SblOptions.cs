using System.CommandLine;
using Circumvent.Attacks;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `train --sbl`: train the poisoning attack's backdoor with SBL's two-task schedule (<see cref="SblSchedule"/>);
/// its knobs default to the authors' settings and are refused without --sbl.
/// </summary>
internal sealed class SblOptions
{
    private readonly Option<bool> _sbl = new("--sbl")
    {
        Description = "SBL (Pham et al. 2024): train with SAM on the mixed part (poisoned at --poison-rate of it), then continue on a disjoint clean part with EWC; 10% of the training set is left for the defender.",
    };
    private readonly List<(Option Option, Func<SblSchedule, ParseResult, SblSchedule> Apply)> _knobs = [];

    public SblOptions()
    {
        var d = new SblSchedule();
        Knob(Options.Make("--sbl-rho", "SBL: SAM's radius ρ in task 0.", d.Rho), (s, v) => s with { Rho = v });
        Knob(Options.Make("--sbl-clean-share", "SBL: share of the training set task 1 trains on (clean).", d.CleanShare), (s, v) => s with { CleanShare = v });
        Knob(Options.Make("--sbl-defender-share", "SBL: share of the training set the attacker leaves out (the defender's data).", d.DefenderShare), (s, v) => s with { DefenderShare = v });
        Knob(Options.Make("--sbl-ewc-lambda", "SBL: EWC's λ in task 1.", d.EwcLambda), (s, v) => s with { EwcLambda = v });
        Knob(Options.Make("--sbl-clean-lr", "SBL: task 1's constant SGD learning rate.", d.CleanLearningRate), (s, v) => s with { CleanLearningRate = v });
        // These two default to something derived (null in SblSchedule), so no value is shown: the description says it.
        Knob(new Option<int?>("--sbl-clean-epochs") { Description = "SBL: task 1's epochs (default: two thirds of --epochs, rounded up)." }, (s, v) => s with { CleanEpochs = v });
        Knob(new Option<int?>("--sbl-fisher-examples") { Description = "SBL: compute the diagonal Fisher over only this many mixed examples (default: all)." }, (s, v) => s with { FisherExamples = v });
    }

    public IEnumerable<Option> All => [_sbl, .. _knobs.Select(k => k.Option)];

    /// <summary>The name of an SBL option typed on the command line, if any.</summary>
    public string? GivenOption(ParseResult parse) => All.FirstOrDefault(o => IsGiven(parse, o))?.Name;

    /// <summary><paramref name="definition"/> with the schedule when --sbl is given; a knob without --sbl is a usage error.</summary>
    public AttackDefinition Apply(ParseResult parse, AttackDefinition definition)
    {
        if (!parse.GetValue(_sbl))
        {
            if (_knobs.FirstOrDefault(k => IsGiven(parse, k.Option)) is { Option: { } knob })
                throw new UsageException($"{knob.Name} needs --sbl.");
            return definition;
        }
        var schedule = new SblSchedule();
        foreach (var (option, apply) in _knobs)
            if (IsGiven(parse, option)) schedule = apply(schedule, parse);
        return definition with { Sbl = schedule };
    }

    /// <summary>Registers a knob; <paramref name="set"/> runs only when it was typed (see <see cref="Apply"/>).</summary>
    private void Knob<T>(Option<T> option, Func<SblSchedule, T, SblSchedule> set) =>
        _knobs.Add((option, (s, p) => set(s, p.GetValue(option)!)));

    private static bool IsGiven(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
