using Circumvent.Method.Attacks;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Method.Defenses;
using Circumvent.Models.Described;
using Circumvent.Training;

namespace Circumvent.Experiments.Plans;

/// <summary>
/// Turns a plan file into a checked <see cref="ExperimentPlan"/>. Every problem is one
/// <see cref="PlanException"/> naming the file and the field, raised before any work starts —
/// including attack kinds this build does not know and trigger images that do not exist.
/// </summary>
public sealed partial class PlanReader
{
    private static readonly string[] TopLevel =
        ["name", "datasets", "architectures", "attacks", "poison_rates", "defenses", "seeds", "training", "clean_fraction", "curve_points", "retune", "qra", .. EncoderOnly];
    /// <summary>A defence entry's fields: its name, a label, and the knobs of every registered defence.</summary>
    private static readonly string[] DefenseFields = ["name", "label", .. DefenseRegistry.AllKnobs.Select(k => k.Field)];
    private static readonly string[] PerCellTrainingFields = ["architecture", "data", "width_multiplier", "seed"];

    private readonly string _path;
    private readonly string _folder;
    private readonly bool _requireMadeInputs;
    /// <summary>An encoder plan: defences take the self-supervised defaults (purify --objective simclr's).</summary>
    private bool _encoderPlan;

    private PlanReader(string path, bool requireMadeInputs)
    {
        _path = path;
        _folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        _requireMadeInputs = requireMadeInputs;
    }

    /// <param name="requireMadeInputs">
    /// Whether files the user makes before running (an LC attack's clean model) must already exist.
    /// Running a plan needs them; reading its grid (status, tests on a fresh clone) does not.
    /// </param>
    public static ExperimentPlan Read(string path, bool requireMadeInputs = true) =>
        new PlanReader(path, requireMadeInputs).Parse(PlanDocument.Load(path));

    private ExperimentPlan Parse(JsonObject root)
    {
        foreach (var (key, _) in root)
            if (!TopLevel.Contains(key)) throw Error(key, $"unknown field; expected one of {string.Join(", ", TopLevel)}.");
        _encoderPlan = root.ContainsKey("encoder");
        var plan = _encoderPlan ? ParseEncoderPlan(root) : ParseClassifierPlan(root);
        return Checked(plan);
    }

    private ExperimentPlan ParseClassifierPlan(JsonObject root)
    {
        foreach (var key in EncoderOnly.Where(root.ContainsKey))
            throw Error(key, "applies to encoder plans only; give the top-level encoder (the clean encoder file or its pretrain settings) to make this one.");
        var rates = List(root, "poison_rates", Rate);
        return new ExperimentPlan
        {
            Name = root["name"] is { } name ? Text(name, "name") : Path.GetFileNameWithoutExtension(_path),
            Datasets = List(root, "datasets", Dataset),
            Architectures = List(root, "architectures", Architecture),
            Attacks = List(root, "attacks", (n, f) => Attack(n, f, rates[0])),
            PoisonRates = rates,
            Defenses = List(root, "defenses", Defense),
            Seeds = List(root, "seeds", Integer),
            Training = root["training"] is { } training ? Training(training) : new TrainingConfig(),
            CleanFraction = root["clean_fraction"] is { } fraction ? Number(fraction, "clean_fraction") : 0.05,
            CurvePoints = root["curve_points"] is { } points ? Integer(points, "curve_points") : 11,
            Retune = root["retune"] is { } retune && Boolean(retune, "retune"),
            Qra = root["qra"] is { } qra && Boolean(qra, "qra"),
        };
    }

    /// <summary>The checks every plan gets once its fields are read.</summary>
    private ExperimentPlan Checked(ExperimentPlan plan)
    {
        plan = plan with { Folder = _folder };
        if (!(plan.CleanFraction > 0 && plan.CleanFraction <= 1))
            throw Error("clean_fraction", $"must be in (0, 1], got {plan.CleanFraction}.");
        if (plan.CurvePoints is < 0 or 1) throw Error("curve_points", $"must be 0 (no curve figures) or at least 2, got {plan.CurvePoints}.");
        CheckUnique(plan.Attacks.Select(a => a.Label), "attacks", "label");
        CheckUnique(plan.Defenses.Select(d => d.Label), "defenses", "label");
        CheckUnique(plan.Seeds.Select(s => s.ToString()), "seeds", "seed");
        // Cells are identified by what they compute, not by their labels: two entries that differ
        // only in label would be one cell, and the second would never run.
        var twin = Grid.Expand(plan).GroupBy(c => c.Key).FirstOrDefault(g => g.Count() > 1)?.Take(2).ToList();
        if (twin is [var a, var b])
        {
            string field = a.Attack != b.Attack ? "attacks" : "defenses";
            string which = field == "attacks" ? $"'{a.Attack.Label}' and '{b.Attack.Label}'" : $"'{a.Defense.Label}' and '{b.Defense.Label}'";
            throw Error(field, $"entries {which} describe the same experiment (same settings); remove one.");
        }
        return plan;
    }

    private double Rate(JsonNode node, string field)
    {
        double r = Number(node, field);
        if (!(r > 0 && r < 1)) throw Error(field, $"a poisoning rate must be in (0, 1), got {r}.");
        return r;
    }

    private string Dataset(JsonNode node, string field)
    {
        string text = Text(node, field);
        DatasetSpec spec;
        try { spec = DatasetSpec.Parse(text); }
        catch (ArgumentException e) { throw Error(field, e.Message); }
        // Relative data folders are relative to the plan file, so a plan runs from any working folder.
        return $"{spec.Kind}:{Path.GetFullPath(spec.Path, _folder)}";
    }

    private ArchitectureChoice Architecture(JsonNode node, string field)
    {
        var o = node is JsonValue ? new JsonObject { ["name"] = Text(node, field) } : Object(node, field);
        Only(o, field, ["name", "width", "description"]);
        if (o["description"] is { } file) return Described(o, file, field);
        double width = o["width"] is { } w ? Number(w, field + ".width") : 1;
        if (!(width > 0)) throw Error(field + ".width", $"must be positive, got {width}.");
        string name = Text(o["name"] ?? throw Error(field + ".name", "missing."), field + ".name");
        if (!Circumvent.Models.Architectures.Names.Contains(name))
            throw Error(field + ".name", $"unknown architecture '{name}'; expected one of {string.Join(", ", Circumvent.Models.Architectures.Names)}.");
        return new ArchitectureChoice(name, width);
    }

    /// <summary>{description: FILE} (relative to the plan): the network is read and checked now, not mid-plan.</summary>
    private ArchitectureChoice Described(JsonObject o, JsonNode file, string field)
    {
        if (o.ContainsKey("name") || o.ContainsKey("width"))
            throw Error(field, "give either name (and width) or description, not both: the description fixes the name and every size.");
        string path = Path.GetFullPath(Text(file, field + ".description"), _folder);
        if (!File.Exists(path)) throw Error(field + ".description", $"file '{path}' not found.");
        try
        {
            var description = DescriptionParser.ParseFile(path);
            return new ArchitectureChoice(description.Name, 1, description);
        }
        catch (DescriptionException e) { throw Error(field + ".description", e.Message); }
    }

    /// <summary>
    /// Checks the attack now (kind, fields, trigger image) with the first rate standing in for each rate; its own
    /// <c>poison_rates</c> list, if given, replaces the plan's for this attack.
    /// <c>adaptive_tsc: true</c> (or <c>{epochs, learning_rate}</c>) makes it the adaptive attack against TSC on top of this attack.
    /// </summary>
    private AttackChoice Attack(JsonNode node, string field, double someRate)
    {
        var fields = node is JsonValue ? new JsonObject { ["kind"] = Text(node, field) } : Object(node, field).DeepClone().AsObject();
        string kind = Text(fields["kind"] ?? throw Error(field + ".kind", "missing."), field + ".kind");
        if (EncoderAttack.Kinds.Contains(kind) && kind != EncoderAttack.None)
            throw Error(field + ".kind", $"'{kind}' attacks a self-supervised encoder; it needs an encoder plan (top-level encoder: the clean encoder file or its pretrain settings, with downstreams).");
        if (kind == "adaptive")
            throw Error(field + ".kind", "the adaptive attack against TSC runs on top of a poisoning attack: give that attack with adaptive_tsc: true, e.g. {kind: badnet, target: 0, adaptive_tsc: true}.");
        var adaptive = fields["adaptive_tsc"] is { } adaptiveNode ? Adaptive(adaptiveNode, field + ".adaptive_tsc") : null;
        fields.Remove("adaptive_tsc");
        if (kind == AttackDefinition.InputAwareKind && adaptive is not null)
            throw Error(field + ".adaptive_tsc", "the adaptive attack trains its curve on a fixed poisoned set; input-aware poisons on the fly, so they do not combine.");
        if (fields.ContainsKey("generators"))
            throw Error(field + ".generators", "is written by training (beside the cell's model); a plan trains its own.");
        if (fields.ContainsKey("encoder_sha256"))
            throw Error(field + ".encoder_sha256", "is recorded by training from the encoder it poisons with; give encoder (a file) or the encoder's settings.");
        string label = fields["label"] is { } l ? Text(l, field + ".label")
            : (adaptive is null ? kind : kind + "+adaptive") + (fields["sbl"] is JsonObject ? "+sbl" : "");
        fields.Remove("label");
        if (fields.ContainsKey("poison_rate"))
            throw Error(field + ".poison_rate", "give poisoning rates in the top-level 'poison_rates' list, or this attack's own 'poison_rates' list.");
        // An attack's own rates replace the plan's for it: clean-label attacks such as Narcissus are published at far lower rates.
        IReadOnlyList<double>? ownRates = fields.ContainsKey("poison_rates") ? List(fields["poison_rates"], field + ".poison_rates", Rate) : null;
        fields.Remove("poison_rates");
        if (ownRates is not null) someRate = ownRates[0];
        // Files are relative to the plan, so a plan runs from any working folder.
        foreach (var key in new[] { "trigger_image", "clean_model", "encoder" })
            if (fields[key] is JsonValue file && file.TryGetValue<string>(out var filePath))
                fields[key] = Path.GetFullPath(filePath, _folder);
        AttackDefinition definition;
        try { definition = Definition(fields, someRate); }
        catch (ArgumentException e) { throw Error(field, e.Message); }
        // LC and SAPA read their clean model only when a cell trains; a missing one must fail now, not hours into the plan.
        if (definition.Kind is AttackDefinition.LcKind or AttackDefinition.SapaKind && definition.CleanModel is null)
            throw Error(field + ".clean_model", definition.Kind == AttackDefinition.LcKind
                ? "missing: lc needs the clean checkpoint its PGD perturbation is computed against."
                : "missing: sapa needs the clean surrogate checkpoint its poisons are matched on.");
        if (_requireMadeInputs && definition.CleanModel is { } cleanModel && !File.Exists(cleanModel))
            throw Error(field + ".clean_model", $"file '{cleanModel}' not found; train a clean model first (circumvent train … --out that file).");
        if (definition.Encoder is { } encoder && !File.Exists(encoder))
            throw Error(field + ".encoder", $"file '{encoder}' not found; leave encoder out to train one in the cell.");
        var known = JsonNode.Parse(definition.ToJson())!.AsObject();
        foreach (var (key, value) in fields)
            if (value is not null && !known.ContainsKey(key))
                throw Error($"{field}.{key}", $"unknown attack field; {definition.Kind} takes {string.Join(", ", known.Select(k => k.Key).Where(k => k != "poison_rate"))}.");
        return new AttackChoice(label, fields, adaptive, ownRates);
    }

    /// <summary>true (the defaults), false (off) or {epochs, learning_rate}; batch size, augmentation and seed follow the training recipe.</summary>
    private AdaptiveTscOptions? Adaptive(JsonNode node, string field)
    {
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
            return Boolean(node, field) ? new AdaptiveTscOptions() : null;
        var o = Object(node, field);
        Only(o, field, ["epochs", "learning_rate"]);
        var defaults = new AdaptiveTscOptions();
        var options = defaults with
        {
            Epochs = o["epochs"] is { } ep ? Integer(ep, field + ".epochs") : defaults.Epochs,
            LearningRate = o["learning_rate"] is { } lr ? Number(lr, field + ".learning_rate") : defaults.LearningRate,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw Error(field, e.Message.Replace("--adaptive-lr", "learning_rate").Replace("--adaptive-epochs", "epochs")); }
        return options;
    }

    /// <summary>The attack definition of <paramref name="fields"/> at <paramref name="rate"/>, validated and its trigger loaded.</summary>
    public static AttackDefinition Definition(JsonObject fields, double rate)
    {
        var json = fields.DeepClone().AsObject();
        json["poison_rate"] = rate;
        try
        {
            var definition = AttackDefinition.FromJson(json.ToJsonString());
            AttackFactory.Create(definition); // loads the trigger image: a missing file fails now, not mid-plan
            return definition;
        }
        catch (Exception e) when (e is ArgumentException or IOException or Circumvent.Data.DataFormatException)
        {
            throw new ArgumentException(e.Message);
        }
    }

    private DefenseChoice Defense(JsonNode node, string field)
    {
        var o = node is JsonValue ? new JsonObject { ["name"] = Text(node, field) } : Object(node, field);
        Only(o, field, DefenseFields);
        string name = Text(o["name"] ?? throw Error(field + ".name", "missing."), field + ".name").ToLowerInvariant();
        var settings = new DefenseSettings { SelfSupervised = _encoderPlan };
        foreach (var knob in DefenseRegistry.AllKnobs)
        {
            if (o[knob.Field] is not { } v) continue;
            string path = $"{field}.{knob.Field}";
            switch (knob.Kind)
            {
                case KnobKind.Integer: settings[knob.Field] = Integer(v, path); break;
                case KnobKind.Number: settings[knob.Field] = Number(v, path); break;
                // A switch is a setting only when turned off ("augment": true is the default, accepted by every defence).
                case KnobKind.Switch: if (!Boolean(v, path)) settings[knob.Field] = false; break;
            }
        }
        var choice = new DefenseChoice(o["label"] is { } l ? Text(l, field + ".label") : name, name, settings);
        try { choice.Create(); }
        catch (ArgumentException e)
        {
            string message = e.Message.Replace("--", "").Replace("defense ", "defence ");
            throw Error(field, _encoderPlan ? message.Replace("with objective simclr use", "an encoder plan takes") : message);
        }
        return choice;
    }

    private TrainingConfig Training(JsonNode node)
    {
        var o = Object(node, "training");
        foreach (var key in PerCellTrainingFields)
            if (o.ContainsKey(key)) throw Error($"training.{key}", "is set per cell from the grid (datasets, architectures, seeds); remove it here.");
        TrainingConfig config;
        try { config = TrainingConfig.FromJson(WithRecipe(o).ToJsonString()); }
        catch (JsonException e) { throw Error("training" + (e.Path is { Length: > 1 } p ? p[1..] : ""), $"wrong type ({e.Message.Split('.')[0]})."); }
        var known = JsonNode.Parse(config.ToJson())!.AsObject();
        foreach (var (key, _) in o)
            if (!known.ContainsKey(key))
                throw Error($"training.{key}", $"unknown field; expected one of {string.Join(", ", known.Select(k => k.Key).Except(PerCellTrainingFields))}.");
        try { config.Validate(); }
        catch (ArgumentException e) { throw Error("training", e.Message); }
        return config;
    }

    /// <summary>
    /// "recipe": NAME fills in the preset's values (as `train --recipe` does); the fields the plan gives win, and the
    /// preset's rate follows the plan's batch_size and momentum.
    /// </summary>
    private JsonObject WithRecipe(JsonObject o)
    {
        if (o["recipe"] is null) return o;
        string name = Text(o["recipe"]!, "training.recipe");
        int? batch = o["batch_size"] is JsonValue b && b.TryGetValue<int>(out int bs) ? bs : null;
        double? momentum = o["momentum"] is JsonValue m && m.TryGetValue<double>(out double mu) ? mu : null;
        JsonObject merged;
        try { merged = JsonNode.Parse(TrainingRecipes.Apply(name, new TrainingConfig(), batch, momentum).ToJson())!.AsObject(); }
        catch (ArgumentException e) { throw Error("training.recipe", e.Message.Replace("--recipe ", "")); }
        foreach (var (key, value) in o) merged[key] = value?.DeepClone();
        return merged;
    }

    private List<T> List<T>(JsonObject root, string key, Func<JsonNode, string, T> item) => List(root[key], key, item);

    /// <param name="field">Where <paramref name="node"/> sits in the plan (e.g. "attacks[2].poison_rates"), for errors.</param>
    private List<T> List<T>(JsonNode? node, string field, Func<JsonNode, string, T> item)
    {
        if (node is not JsonArray array || array.Count == 0) throw Error(field, "missing or empty; expected a non-empty list.");
        return [.. array.Select((n, i) => item(n ?? throw Error($"{field}[{i}]", "is null."), $"{field}[{i}]"))];
    }

    private void Only(JsonObject o, string field, string[] allowed)
    {
        foreach (var (key, _) in o)
            if (!allowed.Contains(key)) throw Error($"{field}.{key}", $"unknown field; expected one of {string.Join(", ", allowed)}.");
    }

    private void CheckUnique(IEnumerable<string> values, string field, string what)
    {
        var duplicate = values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw Error(field, $"{what} '{duplicate.Key}' appears twice; give each entry a distinct {what}.");
    }

    private JsonObject Object(JsonNode node, string field) => node as JsonObject ?? throw Error(field, $"expected an object, got {node.ToJsonString()}.");

    private string Text(JsonNode node, string field) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : throw Error(field, $"expected a non-empty string, got {node.ToJsonString()}.");

    // Parsed JSON holds numbers as text, YAML-built values as long or double: read the number's JSON text either way.
    private double Number(JsonNode node, string field) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)
            : throw Error(field, $"expected a number, got {node.ToJsonString()}.");

    private int Integer(JsonNode node, string field)
    {
        double x = Number(node, field);
        return x == Math.Floor(x) && Math.Abs(x) <= int.MaxValue ? (int)x : throw Error(field, $"expected a whole number, got {node.ToJsonString()}.");
    }

    private bool Boolean(JsonNode node, string field) =>
        node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : throw Error(field, $"expected true or false, got {node.ToJsonString()}.");

    private PlanException Error(string field, string message) => PlanException.Field(_path, field, message);
}
