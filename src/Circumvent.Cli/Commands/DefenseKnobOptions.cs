using System.CommandLine;
using Circumvent.Method.Defenses;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `purify`'s defence options, made from <see cref="DefenseRegistry"/>: --defense, and one option per knob of any
/// registered defence (a knob two defences share is one option). Which knobs the chosen defence accepts is the
/// registry's rule; the help after `--defense NAME --help` lists that defence's own knobs with their defaults.
/// </summary>
internal sealed class DefenseKnobOptions
{
    private readonly List<(DefenseKnob Knob, Option Option)> _knobs = [];

    public DefenseKnobOptions()
    {
        Defense = Options.Make("--defense", $"One of {string.Join(", ", DefenseRegistry.Names)}; `--defense NAME --help` lists NAME's settings.", "tsc");
        foreach (var knob in DefenseRegistry.AllKnobs)
        {
            string description = DefenseRegistry.Describe(knob);
            Option option = knob.Kind switch
            {
                KnobKind.Integer => new Option<int?>(knob.Option) { Description = description },
                KnobKind.Number => new Option<double?>(knob.Option) { Description = description },
                _ => new Option<bool>(knob.Option) { Description = description },
            };
            _knobs.Add((knob, option));
        }
    }

    public Option<string> Defense { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Defense);
        foreach (var (_, option) in _knobs) command.Options.Add(option);
    }

    public string Name(ParseResult parse) => (parse.GetValue(Defense) ?? "").ToLowerInvariant();

    /// <summary>The knobs given on the command line, in registry order (the first foreign one is the one reported).</summary>
    public DefenseSettings Settings(ParseResult parse)
    {
        var settings = new DefenseSettings();
        foreach (var (knob, option) in _knobs)
        {
            switch (option)
            {
                case Option<int?> o when parse.GetValue(o) is int value: settings[knob.Field] = value; break;
                case Option<double?> o when parse.GetValue(o) is double value: settings[knob.Field] = value; break;
                case Option<bool> o when parse.GetValue(o): settings[knob.Field] = false; break;
            }
        }
        return settings;
    }

    /// <summary>
    /// What `purify --help` adds: the chosen defence's settings when --defense was given (with the defaults of
    /// <paramref name="objective"/>'s value: an encoder's differ), else one line per defence.
    /// </summary>
    public string Help(ParseResult parse, Option<string> objective)
    {
        if (parse.GetResult(Defense) is { Implicit: false })
        {
            var plugin = DefenseRegistry.All.FirstOrDefault(p => p.Name == Name(parse));
            var settings = new DefenseSettings();
            settings.SetObjective((parse.GetValue(objective) ?? "").ToLowerInvariant());
            if (plugin is not null) return DefenseRegistry.Help(plugin, settings);
            return $"--defense '{parse.GetValue(Defense)}' is not a defence of this build." + Environment.NewLine + DefenseRegistry.Overview();
        }
        return DefenseRegistry.Overview();
    }
}
