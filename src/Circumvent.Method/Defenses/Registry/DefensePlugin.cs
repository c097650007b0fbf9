namespace Circumvent.Method.Defenses;

/// <summary>
/// A defence as the command line, experiment plans and reports see it: its name, a one-line summary, its knobs
/// (each with default and help) and how to build it from the knobs given. Adding a defence is one file holding
/// its <see cref="IDefense"/>, its options and one of these, plus one line in <see cref="DefenseRegistry.All"/>
/// (docs/defences.md shows it).
/// </summary>
public abstract class DefensePlugin
{
    /// <summary>What `--defense` and a plan's "name" say: lower case, e.g. "tsc".</summary>
    public abstract string Name { get; }

    /// <summary>One line for `purify --help`: what it does and whose settings its defaults are.</summary>
    public abstract string Summary { get; }

    /// <summary>Its settings, in the order help lists them, with a classifier's defaults; empty for a defence without any.</summary>
    public abstract IReadOnlyList<DefenseKnob> Knobs { get; }

    /// <summary>
    /// The same settings with the defaults that apply under <paramref name="settings"/>' objective (an encoder's or a CLIP
    /// tower's differ for TSC, MCR and FT), so help never shows a default the run would not use.
    /// </summary>
    public virtual IReadOnlyList<DefenseKnob> KnobsFor(DefenseSettings settings) => Knobs;

    /// <summary>Whether it can repair an encoder under a self-supervised objective (<see cref="DefenseSettings.SelfSupervised"/>); classifier-only defences keep the default, false.</summary>
    public virtual bool SupportsSelfSupervised => false;

    /// <summary>
    /// Builds the defence from <paramref name="settings"/> (only this defence's knobs: the registry refused others),
    /// validated: throws <see cref="ArgumentException"/> naming the bad knob by its option, before anything is loaded.
    /// </summary>
    public abstract IDefense Create(DefenseSettings settings);
}
