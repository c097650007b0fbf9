using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Circumvent.Attacks;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Experiments.Plans;

/// <summary>
/// The encoder plan's fields (top-level "encoder", "downstreams", "probe" and the encoder attacks), checked like the
/// rest: every problem names its field before any work starts.
/// </summary>
public sealed partial class PlanReader
{
    /// <summary>Top-level fields only a classifier plan has, and why an encoder plan has none.</summary>
    private static readonly Dictionary<string, string> SupervisedOnly = new()
    {
        ["architectures"] = "the encoder's network comes from its file or its encoder.pretrain settings",
        ["poison_rates"] = "ctrl takes its own poison_rate; badencoder poisons no data",
        ["training"] = "give each attack's recipe in its entry (epochs, learning_rate, …) and the clean encoder's under encoder.pretrain",
        ["retune"] = "the retuning attack fine-tunes a classifier with labels",
        ["qra"] = "QRA attacks a classifier",
    };
    // A property, not a field: TopLevel (in the other part of this class) reads it while the static fields are set up.
    private static string[] EncoderOnly => ["encoder", "downstreams", "probe"];
    private static readonly string[] PretrainFields = ["architecture", "width", "epochs", "batch_size", "learning_rate", "weight_decay", "seed", "limit_train"];
    private static readonly string[] RecipeFields = ["epochs", "learning_rate", "batch_size", "weight_decay", "limit_train"];
    private static readonly Dictionary<string, string[]> EncoderAttackFields = new()
    {
        [EncoderAttack.None] = ["kind", "label", "defenses"],
        [EncoderAttack.BadEncoder] = ["kind", "label", "defenses", "downstream", "target", "references", "patch_size", "patch_position", "lambda1", "lambda2", .. RecipeFields],
        [EncoderAttack.Ctrl] = ["kind", "label", "defenses", "downstream", "target", "poison_rate", "magnitude", "warmup_epochs", .. RecipeFields],
    };

    private ExperimentPlan ParseEncoderPlan(JsonObject root)
    {
        foreach (var (key, why) in SupervisedOnly)
            if (root.ContainsKey(key)) throw Error(key, $"does not apply to an encoder plan ({why}).");
        var datasets = List(root, "datasets", Dataset);
        if (datasets.Count != 1)
            throw Error("datasets", $"an encoder plan has one dataset, the pre-training set (kNN, the defender's clean data, the attacks' data); got {datasets.Count}.");
        var clean = CleanEncoder(root["encoder"]!, datasets[0]);
        var downstreams = Downstreams(root["downstreams"]);
        var probe = root["probe"] is { } p ? Probe(p) : new ProbeOptions { Kinds = [ProbeKind.Mlp] };
        return new ExperimentPlan
        {
            Name = root["name"] is { } name ? Text(name, "name") : Path.GetFileNameWithoutExtension(_path),
            Datasets = datasets,
            Architectures = [clean.Architecture],
            Attacks = List(root, "attacks", (n, f) => EncoderAttackEntry(n, f, datasets[0], downstreams)),
            PoisonRates = [],
            Defenses = List(root, "defenses", Defense),
            Seeds = List(root, "seeds", Integer),
            Training = new TrainingConfig(),
            CleanFraction = root["clean_fraction"] is { } fraction ? Number(fraction, "clean_fraction") : 0.05,
            // Each curve point of an encoder trains a probe: none unless asked for.
            CurvePoints = root["curve_points"] is { } points ? Integer(points, "curve_points") : 0,
            Encoder = new EncoderPlan(clean, downstreams, probe),
        };
    }

    /// <summary>"FILE", {file: FILE} or {pretrain: {architecture, width, epochs, …}} (SimCLR's defaults for the rest; data = the plan's).</summary>
    private CleanEncoderChoice CleanEncoder(JsonNode node, string dataset)
    {
        var o = node is JsonValue ? new JsonObject { ["file"] = node.DeepClone() } : Object(node, "encoder");
        Only(o, "encoder", ["file", "pretrain"]);
        if (o.ContainsKey("file") == o.ContainsKey("pretrain"))
            throw Error("encoder", "give either file (an encoder made by `circumvent pretrain --method simclr`) or pretrain (SimCLR settings the plan trains it with), one of them.");
        if (o["file"] is { } file) return new CleanEncoderChoice(EncoderFile(file, "encoder.file"), null);
        var s = Object(o["pretrain"]!, "encoder.pretrain");
        Only(s, "encoder.pretrain", PretrainFields);
        var d = SimClrPretraining.Defaults;
        var config = d with
        {
            Data = dataset,
            Architecture = s["architecture"] is { } a ? Text(a, "encoder.pretrain.architecture") : d.Architecture,
            WidthMultiplier = s["width"] is { } w ? Number(w, "encoder.pretrain.width") : d.WidthMultiplier,
            Seed = s["seed"] is { } seed ? Integer(seed, "encoder.pretrain.seed") : d.Seed,
        };
        config = Recipe(s, "encoder.pretrain", config);
        if (!Circumvent.Models.Architectures.Names.Contains(config.Architecture))
            throw Error("encoder.pretrain.architecture", $"unknown architecture '{config.Architecture}'; expected one of {string.Join(", ", Circumvent.Models.Architectures.Names)}.");
        return new CleanEncoderChoice(null, config);
    }

    /// <summary>An encoder checkpoint file (relative to the plan); it must exist and be an encoder unless only the grid is read.</summary>
    private string EncoderFile(JsonNode node, string field)
    {
        string path = Path.GetFullPath(Text(node, field), _folder);
        if (!File.Exists(path))
        {
            if (!_requireMadeInputs) return path;
            throw Error(field, $"file '{path}' not found; make it with `circumvent pretrain --method simclr … --out {path}`, or give encoder.pretrain to train one in the plan.");
        }
        try
        {
            var content = ModelLoading.Read(path, field);
            if (!content.Metadata.TryGetValue(ModelCheckpoint.RoleKey, out var role) || role != ModelCheckpoint.EncoderRole)
                throw Error(field, $"'{path}' is not a SimCLR encoder (its role is '{role ?? "none"}', expected '{ModelCheckpoint.EncoderRole}'); make one with `circumvent pretrain --method simclr`.");
        }
        catch (Exception e) when (e is ArgumentException and not PlanException or CheckpointException or IOException)
        {
            // The loader names the option it was given ("encoder.file: Checkpoint …"); the field is said once.
            throw Error(field, e.Message.StartsWith(field + ": ", StringComparison.Ordinal) ? e.Message[(field.Length + 2)..] : e.Message);
        }
        return path;
    }

    /// <summary>{NAME: "KIND:PATH", …}; NAME names the result fields acc_NAME and asr_NAME.</summary>
    private List<DownstreamChoice> Downstreams(JsonNode? node)
    {
        if (node is not JsonObject o || o.Count == 0)
            throw Error("downstreams", "missing or empty; expected an object of NAME: KIND:PATH, e.g. {\"gtsrb\": \"gtsrb:DIR\", \"cifar10\": \"cifar10:DIR\"}.");
        var list = new List<DownstreamChoice>();
        foreach (var (name, spec) in o)
        {
            if (!Regex.IsMatch(name, "^[a-z0-9_]+$"))
                throw Error($"downstreams.{name}", "a downstream's name names result fields (acc_NAME, asr_NAME): use lower-case letters, digits and _.");
            list.Add(new DownstreamChoice(name, Dataset(spec ?? throw Error($"downstreams.{name}", "is null."), $"downstreams.{name}")));
        }
        return list;
    }

    /// <summary>{kind: mlp|linear, epochs, learning_rate, batch_size}: the probe every downstream score comes from.</summary>
    private ProbeOptions Probe(JsonNode node)
    {
        var o = Object(node, "probe");
        Only(o, "probe", ["kind", "epochs", "learning_rate", "batch_size"]);
        var d = new ProbeOptions();
        string kind = o["kind"] is { } k ? Text(k, "probe.kind") : "mlp";
        var probe = d with
        {
            Kinds = [kind switch
            {
                "mlp" => ProbeKind.Mlp,
                "linear" => ProbeKind.Linear,
                _ => throw Error("probe.kind", $"expected mlp (the authors' in→512→256→C) or linear, got '{kind}'."),
            }],
            Epochs = o["epochs"] is { } ep ? Integer(ep, "probe.epochs") : d.Epochs,
            LearningRate = o["learning_rate"] is { } lr ? Number(lr, "probe.learning_rate") : d.LearningRate,
            BatchSize = o["batch_size"] is { } b ? Integer(b, "probe.batch_size") : d.BatchSize,
        };
        try { probe.Validate(); }
        catch (ArgumentException e) { throw Error("probe", e.Message.Replace("--probe-", "").Replace("--", "")); }
        return probe;
    }

    private AttackChoice EncoderAttackEntry(JsonNode node, string field, string dataset, IReadOnlyList<DownstreamChoice> downstreams)
    {
        var o = node is JsonValue ? new JsonObject { ["kind"] = Text(node, field) } : Object(node, field);
        string kind = Text(o["kind"] ?? throw Error(field + ".kind", "missing."), field + ".kind");
        if (!EncoderAttackFields.TryGetValue(kind, out var allowed))
            throw Error(field + ".kind", AttackDefinition.Kinds.Contains(kind)
                ? $"'{kind}' poisons a classifier's training set; an encoder plan's attacks are {string.Join(", ", EncoderAttack.Kinds)}."
                : $"unknown encoder attack '{kind}'; expected one of {string.Join(", ", EncoderAttack.Kinds)}.");
        Only(o, field, allowed);
        string? downstream = null;
        int target = 0;
        if (kind != EncoderAttack.None)
        {
            downstream = Text(o["downstream"] ?? throw Error(field + ".downstream",
                $"missing; name the downstream set (one of {string.Join(", ", downstreams.Select(d => d.Name))}) whose class target is: ASR is measured on it."), field + ".downstream");
            if (downstreams.All(d => d.Name != downstream))
                throw Error(field + ".downstream", $"'{downstream}' is not in downstreams ({string.Join(", ", downstreams.Select(d => d.Name))}).");
            target = Integer(o["target"] ?? throw Error(field + ".target", "missing; the target class (e.g. GTSRB priority road 12, CIFAR-10 truck 9)."), field + ".target");
            if (target < 0) throw Error(field + ".target", $"must be ≥ 0, got {target}.");
        }
        string label = o["label"] is { } l ? Text(l, field + ".label") : kind == EncoderAttack.BadEncoder ? $"{kind}-{downstream}" : kind;
        var attack = kind switch
        {
            EncoderAttack.BadEncoder => BadEncoderEntry(o, field, dataset, downstream!, target),
            EncoderAttack.Ctrl => CtrlEntry(o, field, dataset, downstream!, target),
            _ => new EncoderAttack(kind, null, 0, null, [], null, 0, 0, 0, 0),
        };
        // The attack's own defences, if any, replace the plan's for it; they are not part of what the attack is.
        var defenses = o["defenses"] is { } d ? List(d, field + ".defenses", Defense) : null;
        if (defenses is not null) CheckUnique(defenses.Select(c => c.Label), field + ".defenses", "label");
        var fields = o.DeepClone().AsObject();
        fields.Remove("defenses");
        return new AttackChoice(label, fields, Encoder: attack, Defenses: defenses);
    }

    private EncoderAttack BadEncoderEntry(JsonObject o, string field, string dataset, string downstream, int target)
    {
        var references = List(o["references"], field + ".references", Reference);
        int size = o["patch_size"] is { } ps ? Integer(ps, field + ".patch_size") : 10;
        var authors = BadEncoderTraining.AuthorsTrigger(target);
        int column = authors.PatchColumn!.Value, row = authors.PatchRow!.Value;
        if (o["patch_position"] is { } position)
        {
            var xy = position as JsonArray;
            if (xy is not { Count: 2 }) throw Error(field + ".patch_position", $"expected [column, row] of the patch's top-left pixel, e.g. [21, 21], got {position.ToJsonString()}.");
            column = Integer(xy[0]!, field + ".patch_position[0]");
            row = Integer(xy[1]!, field + ".patch_position[1]");
        }
        if (size < 1 || column < 0 || row < 0) throw Error(field + ".patch_size", $"the patch needs a size ≥ 1 at a position ≥ 0, got size {size} at [{column}, {row}].");
        double lambda1 = o["lambda1"] is { } l1 ? Number(l1, field + ".lambda1") : BadEncoderObjective.DefaultLambda;
        double lambda2 = o["lambda2"] is { } l2 ? Number(l2, field + ".lambda2") : BadEncoderObjective.DefaultLambda;
        var training = Recipe(o, field, BadEncoderTraining.Defaults with { Data = dataset });
        var attack = new EncoderAttack(EncoderAttack.BadEncoder, downstream, target, training, references,
            authors with { PatchSize = size, PatchColumn = column, PatchRow = row }, lambda1, lambda2, 0, 0);
        try { attack.BadEncoderSettings("encoder", ["reference"]).Validate(); }
        catch (ArgumentException e) { throw Error(field, e.Message.Replace("--", "")); }
        return attack;
    }

    /// <summary>An image file (relative to the plan, must exist) or {data: KIND:PATH, class: C, index: I}: the I-th training image of class C.</summary>
    private ReferenceImage Reference(JsonNode node, string field)
    {
        if (node is JsonValue)
        {
            string path = Path.GetFullPath(Text(node, field), _folder);
            if (!File.Exists(path)) throw Error(field, $"file '{path}' not found; expected an image of the target class (PNG, JPEG, PPM or .npy).");
            return new ReferenceImage(path);
        }
        var o = Object(node, field);
        Only(o, field, ["data", "class", "index"]);
        string data = Dataset(o["data"] ?? throw Error(field + ".data", "missing; the dataset (KIND:PATH) whose training image is the reference."), field + ".data");
        int cls = Integer(o["class"] ?? throw Error(field + ".class", "missing; the class of the reference image."), field + ".class");
        int index = o["index"] is { } i ? Integer(i, field + ".index") : 0;
        if (cls < 0 || index < 0) throw Error(field, $"class and index must be ≥ 0, got class {cls}, index {index}.");
        return new ReferenceImage(null, data, cls, index);
    }

    private EncoderAttack CtrlEntry(JsonObject o, string field, string dataset, string downstream, int target)
    {
        double rate = o["poison_rate"] is { } r ? Rate(r, field + ".poison_rate") : CtrlPoisoning.DefaultRate;
        double magnitude = o["magnitude"] is { } m ? Number(m, field + ".magnitude") : CtrlTrigger.DefaultMagnitude;
        // The warm-up follows the epochs (CTRL's 10 are for 800-epoch runs; SimClrPretraining.CtrlWarmup), so it is set once they are known.
        var training = Recipe(o, field, SimClrPretraining.CtrlDefaults with { Data = dataset, WarmupEpochs = 0 });
        training = training with
        {
            WarmupEpochs = o["warmup_epochs"] is { } w ? Number(w, field + ".warmup_epochs") : SimClrPretraining.CtrlWarmup(training.Epochs),
        };
        try { _ = new CtrlTrigger(magnitude); training.Validate(); }
        catch (ArgumentException e) { throw Error(field, e.Message.Replace("--", "")); }
        return new EncoderAttack(EncoderAttack.Ctrl, downstream, target, training, [], null, 0, 0, rate, magnitude);
    }

    /// <summary>The recipe fields an encoder's training takes from the plan (epochs, learning_rate, …) over <paramref name="start"/>, validated.</summary>
    private TrainingConfig Recipe(JsonObject o, string field, TrainingConfig start)
    {
        var config = start with
        {
            Epochs = o["epochs"] is { } ep ? Number(ep, field + ".epochs") : start.Epochs,
            LearningRate = o["learning_rate"] is { } lr ? Number(lr, field + ".learning_rate") : start.LearningRate,
            BatchSize = o["batch_size"] is { } b ? Integer(b, field + ".batch_size") : start.BatchSize,
            WeightDecay = o["weight_decay"] is { } wd ? Number(wd, field + ".weight_decay") : start.WeightDecay,
            LimitTrain = o["limit_train"] is { } lt ? Integer(lt, field + ".limit_train") : start.LimitTrain,
        };
        try { config.Validate(); }
        catch (ArgumentException e) { throw Error(field, e.Message.Replace("--", "")); }
        return config;
    }
}
