namespace Circumvent.Method.Defenses;

/// <summary>
/// Every defence this build knows, in one list: `purify --defense`, its help, experiment plans and reports all
/// read it. Knobs are checked here, the same way for every defence and caller: one the chosen defence does not
/// have is refused, naming it, rather than silently dropped.
/// </summary>
public static class DefenseRegistry
{
    /// <summary>The registered defences; a new one is one line here (and its own file).</summary>
    public static IReadOnlyList<DefensePlugin> All { get; } =
    [
        new TscPlugin(),
        new McrPlugin(),
        new FineTunePlugin(),
        new NoDefensePlugin(),
        new FinePruningPlugin(),
        new NeuralCleanse.NeuralCleansePlugin(),
        new Anp.AnpPlugin(),
        new FtSam.FtSamPlugin(),
        new Sau.SauPlugin(),
        new Pam.PamPlugin(),
        new IBau.IBauPlugin(),
    ];

    public static IReadOnlyList<string> Names => [.. All.Select(p => p.Name)];

    /// <summary>
    /// Every knob of every defence, once per option, in registration order (the first defence's help is kept).
    /// Throws when two defences give one option different kinds or fields: a build error, caught by the tests.
    /// </summary>
    public static IReadOnlyList<DefenseKnob> AllKnobs { get; } = Distinct(All);

    /// <summary>The defence named <paramref name="name"/> (case-insensitive); throws naming the choices.</summary>
    public static DefensePlugin Find(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"--defense must be one of {string.Join(", ", Names)}, got '{name}'.");

    /// <summary>
    /// Builds defence <paramref name="name"/> from <paramref name="settings"/>. Throws <see cref="ArgumentException"/> naming
    /// the first knob it does not have ("--rounds does not apply to --defense ft (it uses …)."), a value of the wrong kind,
    /// or a value the defence refuses — before anything is loaded or written.
    /// </summary>
    public static IDefense Create(string name, DefenseSettings settings)
    {
        RejectForeignKnobs(name, settings);
        var plugin = Find(name);
        if (settings.SelfSupervised && !plugin.SupportsSelfSupervised)
            throw new ArgumentException($"--defense {plugin.Name} repairs classifiers only; with --objective simclr use one of " +
                                        $"{string.Join(", ", All.Where(p => p.SupportsSelfSupervised).Select(p => p.Name))}.");
        foreach (var knob in plugin.Knobs)
            if (settings.IsGiven(knob)) knob.CheckValue(settings[knob.Field]);
        return plugin.Create(settings);
    }

    /// <summary>
    /// The defence's knobs and what each does, as `purify [--objective O] --defense NAME --help` prints them: the defaults
    /// are those of <paramref name="settings"/>' objective (null: a classifier's).
    /// </summary>
    public static string Help(DefensePlugin plugin, DefenseSettings? settings = null)
    {
        var knobs = settings is null ? plugin.Knobs : plugin.KnobsFor(settings);
        string objective = settings is null ? "" : settings.Clip ? " with --objective clip" : settings.SelfSupervised ? " with --objective simclr" : "";
        var lines = new List<string> { $"--defense {plugin.Name}: {plugin.Summary}" };
        if (knobs.Count == 0) lines.Add("  It has no settings.");
        else if (objective.Length > 0 && !plugin.SupportsSelfSupervised) lines.Add($"  It repairs classifiers only: not available{objective}.");
        else
        {
            lines.Add($"  Its settings{objective} (default in brackets):");
            int width = knobs.Max(k => k.Usage.Length);
            foreach (var knob in knobs) lines.Add($"  {knob.Usage.PadRight(width)}  {knob.Help}" + (knob.Default.Length > 0 ? $" [{knob.Default}]" : ""));
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>One line per defence, for `purify --help`.</summary>
    public static string Overview()
    {
        int width = All.Max(p => p.Name.Length);
        return string.Join(Environment.NewLine,
            ["Defences (`purify --defense NAME --help` lists NAME's settings):", .. All.Select(p => $"  {p.Name.PadRight(width)}  {p.Summary}")]);
    }

    /// <summary>What an option means for each defence that has it, e.g. "Fine-tuning epochs [tsc 10, mcr 100, ft 100]".</summary>
    public static string Describe(DefenseKnob knob)
    {
        var users = All.SelectMany(p => p.Knobs.Where(k => k.Option == knob.Option).Select(k => (p.Name, k))).ToList();
        return $"{users[0].k.Help} [{string.Join(", ", users.Select(u => $"{u.Name} {u.k.Default}".TrimEnd()))}]";
    }

    private static void RejectForeignKnobs(string name, DefenseSettings settings)
    {
        var plugin = All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
        if (plugin is null) return; // an unknown name is reported by Find
        foreach (string field in settings.Fields)
        {
            if (plugin.Knobs.Any(k => k.Field == field)) continue;
            string option = AllKnobs.FirstOrDefault(k => k.Field == field)?.Option
                            ?? throw new ArgumentException($"'{field}' is not a setting of any defence; --defense {plugin.Name} has {UsesText(plugin)}.");
            throw new ArgumentException($"{option} does not apply to --defense {plugin.Name}" +
                                        (plugin.Knobs.Count == 0 ? " (it has no settings)." : $" (it uses {UsesText(plugin)})."));
        }
    }

    private static string UsesText(DefensePlugin plugin) =>
        plugin.Knobs.Count == 0 ? "no settings" : string.Join(", ", plugin.Knobs.Select(k => k.Option));

    private static List<DefenseKnob> Distinct(IReadOnlyList<DefensePlugin> plugins)
    {
        var knobs = new List<DefenseKnob>();
        foreach (var plugin in plugins)
        foreach (var knob in plugin.Knobs)
        {
            var same = knobs.FirstOrDefault(k => k.Option == knob.Option || k.Field == knob.Field);
            if (same is null) knobs.Add(knob);
            else if (same.Option != knob.Option || same.Field != knob.Field || same.Kind != knob.Kind)
                throw new InvalidOperationException(
                    $"defence '{plugin.Name}' declares {knob.Option} ({knob.Field}, {knob.Kind}) unlike an earlier defence's {same.Option} ({same.Field}, {same.Kind}).");
        }
        return knobs;
    }
}
