using Circumvent.Data;
using Circumvent.Method.Attacks;
using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Method.Defenses;
using Circumvent.Method.Pipelines;
using Circumvent.Training;

namespace Circumvent.Experiments.Plans;

/// <summary>
/// One point of the grid: a backdoored model (dataset, architecture, attack at a rate, seed, recipe)
/// and the defence run on it. <see cref="Key"/> identifies the cell in results files;
/// <see cref="ModelKey"/> names the backdoored model in the cache, shared by every defence of it.
/// In an encoder plan (<paramref name="Encoder"/> set) the model is the clean encoder attacked by <c>Attack.Encoder</c>
/// and <paramref name="Training"/> is that attack's recipe at this seed.
/// </summary>
public sealed record Cell(
    int Index, string Dataset, ArchitectureChoice Architecture, AttackChoice Attack, double PoisonRate, int Seed,
    DefenseChoice Defense, TrainingConfig Training, double CleanFraction, int CurvePoints, bool Retune = false, bool Qra = false,
    EncoderPlan? Encoder = null)
{
    /// <summary>The attack at this cell's rate (the attack's own fields plus poison_rate).</summary>
    public AttackDefinition AttackDefinition => PlanReader.Definition(Attack.Fields, PoisonRate);

    /// <summary>The adaptive attack's settings for this cell's model (batch size, augmentation and seed from its recipe), or null.</summary>
    public AdaptiveTscOptions? AdaptiveTsc => Attack.Adaptive is { } a
        ? AdaptiveTscOptions.Matching(Training) with { Epochs = a.Epochs, LearningRate = a.LearningRate }
        : null;

    /// <summary>Everything that determines the backdoored model, as canonical JSON (a described network's whole description included).</summary>
    public JsonObject ModelConfig()
    {
        if (Encoder is not null) return EncoderModelConfig();
        var config = new JsonObject
        {
            ["training"] = JsonNode.Parse(Training.ToJson()),
            ["attack"] = JsonNode.Parse(AttackDefinition.ToJson()),
        };
        if (AdaptiveTsc is { } adaptive) config["adaptive_tsc"] = JsonNode.Parse(BackdoorTraining.AdaptiveTscJson(adaptive));
        if (Architecture.Description is { } description) config["description"] = JsonNode.Parse(description.Json);
        return config;
    }

    /// <summary>
    /// QRA's clean model: this cell's recipe without poisoning (a described network's description included); the cache keeps
    /// it under <see cref="CleanModelKey"/>, shared by every attack and rate of the recipe.
    /// </summary>
    public JsonObject CleanModelConfig()
    {
        var config = new JsonObject { ["training"] = JsonNode.Parse(Training.ToJson()), ["attack"] = null };
        if (Architecture.Description is { } description) config["description"] = JsonNode.Parse(description.Json);
        return config;
    }

    public string CleanModelKey => Hash(Portable(CleanModelConfig()));

    /// <summary>An encoder cell's model: the clean encoder itself (attack none), or the clean encoder's config with the attack's.</summary>
    private JsonObject EncoderModelConfig() => Attack.Encoder!.Kind == EncoderAttack.None
        ? Encoder!.Clean.Config()
        : new JsonObject { ["clean_encoder"] = Encoder!.Clean.Config(), ["attack"] = Attack.Encoder.Config(Seed) };

    /// <summary>The files the cell's model is made from (recorded by content beside the cached model, see ModelInputs).</summary>
    public IEnumerable<string> InputFiles()
    {
        IEnumerable<string?> files = Encoder is not null
            ? [Encoder.Clean.File, .. Attack.Encoder!.References.Select(r => r.File)]
            : [AttackDefinition.TriggerImage, AttackDefinition.CleanModel, AttackDefinition.Encoder];
        return files.OfType<string>().Where(f => f.Length > 0);
    }

    /// <summary>
    /// Everything that determines this cell's result: the model, the defence and its settings, the defender's data, and
    /// whether the retuning attack and QRA follow (recorded only when they do, so cells of plans without them keep their keys).
    /// </summary>
    public JsonObject Config()
    {
        var config = DefenseConfig();
        if (Retune) config["retune"] = true;
        if (Qra) config["qra"] = true;
        return config;
    }

    /// <summary>What determines the defended model: <see cref="Config"/> without the retuning attack that may follow it.</summary>
    public JsonObject DefenseConfig()
    {
        var config = new JsonObject
        {
            ["model"] = ModelConfig(),
            ["defense"] = Defense.Name,
            ["defense_options"] = Defense.Create().DescribeOptions(),
            ["clean_fraction"] = CleanFraction,
            ["curve_points"] = CurvePoints,
        };
        // An encoder cell's seed is not always in its model (attack none), and its scores depend on the downstream sets and probe.
        if (Encoder is not null)
        {
            config["seed"] = Seed;
            config["scoring"] = Encoder.ScoringConfig();
        }
        return config;
    }

    /// <summary>The plan's folder (see <see cref="PortablePaths"/>); empty: keys hash paths as they are.</summary>
    public string PlanFolder { get; init; } = "";

    /// <summary><paramref name="config"/> as keys hash it and results lines record it: paths relative to the plan's folder.</summary>
    public JsonObject Portable(JsonObject config) => PlanFolder.Length == 0 ? config : PortablePaths.Of(config, PlanFolder)!.AsObject();

    /// <summary>A file's path as keys write it (relative to the plan's folder).</summary>
    public string PortablePath(string path) => PlanFolder.Length == 0 ? path : PortablePaths.Relative(path, PlanFolder);

    public string ModelKey => Hash(Portable(ModelConfig()));
    public string Key => Hash(Portable(Config()));

    /// <summary>Names the cell's run folder: cells that differ only in the retuning attack share the defence's finished units.</summary>
    public string RunKey => Hash(Portable(DefenseConfig()));

    /// <summary>An encoder cell's clean encoder in the cache (pre-trained by the plan's settings); equal to an unattacked cell's <see cref="ModelKey"/>.</summary>
    public string CleanEncoderKey => Hash(Portable(Encoder!.Clean.Config()));

    /// <summary>
    /// The cache keys of the models this cell's run trains when the cache lacks them, in the order it needs them: the
    /// backdoored model and QRA's clean model, or an encoder cell's pre-trained clean encoder and its attacked encoder.
    /// </summary>
    public IReadOnlyList<string> TrainedModelKeys
    {
        get
        {
            if (Encoder is null) return Qra ? [ModelKey, CleanModelKey] : [ModelKey];
            var keys = new List<string>(2);
            if (Encoder.Clean.File is null) keys.Add(CleanEncoderKey);
            if (Attack.Encoder!.Kind != EncoderAttack.None) keys.Add(ModelKey);
            return keys;
        }
    }

    /// <summary>"badnet 5% · tsc · seed 1" (plus dataset/architecture when the plan has several).</summary>
    public string Describe() => Encoder is not null
        ? $"{Attack.Label} · {Defense.Label} · seed {Seed} · encoder on {Dataset.Split(':')[0]}"
        : $"{Attack.Label} {PoisonRate * 100:0.##}% · {Defense.Label} · seed {Seed} · {Architecture.Label} on {Dataset.Split(':')[0]}";

    /// <summary>First 16 hex digits of SHA-256 of the JSON text (properties in a fixed order, so equal configs hash equally).</summary>
    public static string Hash(JsonNode node) => Sha256Hex.ShortOf(node.ToJsonString());
}

/// <summary>Expands a plan into its cells, in a fixed order with the defence innermost (a model's defences run back to back).</summary>
public static class Grid
{
    public static IReadOnlyList<Cell> Expand(ExperimentPlan plan)
    {
        var cells = new List<Cell>();
        if (plan.Encoder is { } encoder)
        {
            foreach (var dataset in plan.Datasets)
            foreach (var attack in plan.Attacks)
            foreach (var seed in plan.Seeds)
            {
                var a = attack.Encoder!;
                var training = a.Training is null ? plan.Training : a.TrainingFor(seed);
                double rate = a.Kind == EncoderAttack.Ctrl ? a.PoisonRate : 0;
                foreach (var defense in attack.Defenses ?? plan.Defenses)
                    cells.Add(new Cell(cells.Count, dataset, encoder.Clean.Architecture, attack, rate, seed, defense, training, plan.CleanFraction,
                        plan.CurvePoints, Encoder: encoder) { PlanFolder = plan.Folder });
            }
            return cells;
        }
        foreach (var dataset in plan.Datasets)
        foreach (var architecture in plan.Architectures)
        foreach (var attack in plan.Attacks)
        foreach (var rate in attack.PoisonRates ?? plan.PoisonRates)
        foreach (var seed in plan.Seeds)
        {
            var training = plan.Training with { Data = dataset, Architecture = architecture.Name, WidthMultiplier = architecture.Width, Seed = seed };
            foreach (var defense in attack.Defenses ?? plan.Defenses)
                cells.Add(new Cell(cells.Count, dataset, architecture, attack, rate, seed, defense, training, plan.CleanFraction, plan.CurvePoints, plan.Retune, plan.Qra)
                    { PlanFolder = plan.Folder });
        }
        return cells;
    }
}

/// <summary>Shard <see cref="Index"/> of <see cref="Count"/>: the cells whose grid index mod Count equals Index.</summary>
public sealed record Shard(int Index, int Count)
{
    public static Shard All { get; } = new(0, 1);

    public bool Contains(Cell cell) => cell.Index % Count == Index;

    /// <summary>Parses "i/n" with 0 ≤ i &lt; n.</summary>
    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int i) && int.TryParse(parts[1], out int n) && n >= 1 && i >= 0 && i < n)
            return new Shard(i, n);
        throw new ArgumentException($"--shard must be i/n with 0 ≤ i < n (e.g. 0/4), got '{text}'.");
    }

    public override string ToString() => $"{Index}/{Count}";
}
