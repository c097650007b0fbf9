using System.Globalization;

namespace Circumvent.Method.Defenses;

/// <summary>What a knob's value is: a whole number, a real number, or a switch that turns a default-on behaviour off.</summary>
public enum KnobKind { Integer, Number, Switch }

/// <summary>
/// One setting of a defence as a user gives it. <see cref="Field"/> is its name in experiment plans
/// ("curve_epochs"), <see cref="Option"/> its `purify` option ("--curve-epochs"). A switch is on by default:
/// the plan sets <c>"augment": false</c>, the command line says <c>--no-augment</c>.
/// Two defences may share a knob (same field, option and kind) with defaults and help of their own.
/// </summary>
/// <param name="Default">The default as help shows it (from the defence's options record, so it cannot drift); empty for a switch.</param>
public sealed record DefenseKnob(string Field, string Option, KnobKind Kind, string Default, string Help)
{
    public static DefenseKnob Integer(string field, int defaultValue, string help) =>
        new(field, OptionFor(field), KnobKind.Integer, defaultValue.ToString(CultureInfo.InvariantCulture), help);

    public static DefenseKnob Number(string field, double defaultValue, string help) =>
        new(field, OptionFor(field), KnobKind.Number, defaultValue.ToString("R", CultureInfo.InvariantCulture), help);

    /// <summary>A behaviour on by default; <c>--no-FIELD</c> (plans: <c>"FIELD": false</c>) turns it off.</summary>
    public static DefenseKnob Switch(string field, string help) => new(field, "--no-" + field.Replace('_', '-'), KnobKind.Switch, "", help);

    /// <summary>"curve_epochs" → "--curve-epochs".</summary>
    public static string OptionFor(string field) => "--" + field.Replace('_', '-');

    /// <summary>"--rounds INT", "--t NUMBER", "--no-augment": the option as help shows it.</summary>
    public string Usage => Kind switch
    {
        KnobKind.Integer => Option + " INT",
        KnobKind.Number => Option + " NUMBER",
        _ => Option,
    };

    /// <summary>Throws when <paramref name="value"/> is not of this knob's kind (a switch's value is whether the behaviour is on).</summary>
    internal void CheckValue(object value)
    {
        bool ok = Kind switch
        {
            KnobKind.Integer => value is int,
            KnobKind.Number => value is double or int,
            _ => value is bool,
        };
        if (!ok) throw new ArgumentException($"{Option} expects {KindName}, got {value} ({value.GetType().Name}).");
    }

    private string KindName => Kind switch
    {
        KnobKind.Integer => "a whole number",
        KnobKind.Number => "a number",
        _ => "true or false",
    };
}
