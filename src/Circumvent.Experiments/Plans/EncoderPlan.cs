using System.Globalization;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Training;

namespace Circumvent.Experiments.Plans;

/// <summary>
/// What makes a plan an encoder plan (top-level "encoder"): the clean SimCLR encoder every attack starts from, the
/// downstream datasets every cell is scored on (a probe on frozen features: acc_NAME/asr_NAME) and the probe's settings.
/// The plan's one dataset is the pre-training set: the kNN data, the defender's clean data and the attacks' data.
/// </summary>
public sealed record EncoderPlan(CleanEncoderChoice Clean, IReadOnlyList<DownstreamChoice> Downstreams, ProbeOptions Probe)
{
    /// <summary>How cells are scored (part of every cell key): the downstream sets by name and the probe (its seed is the cell's).</summary>
    public JsonObject ScoringConfig() => new()
    {
        ["downstreams"] = new JsonObject(Downstreams.Select(d => KeyValuePair.Create(d.Name, (JsonNode?)d.Spec))),
        ["probe"] = new JsonObject
        {
            ["kind"] = Probe.Kinds[0].ToString().ToLowerInvariant(),
            ["epochs"] = Probe.Epochs,
            ["learning_rate"] = Probe.LearningRate,
            ["batch_size"] = Probe.BatchSize,
        },
    };

    public DownstreamChoice Downstream(string name) => Downstreams.First(d => d.Name == name);
}

/// <summary>A downstream dataset: <paramref name="Name"/> names its result fields (acc_NAME, asr_NAME); <paramref name="Spec"/> is KIND:PATH.</summary>
public sealed record DownstreamChoice(string Name, string Spec);

/// <summary>
/// The clean encoder: a file made by `pretrain --method simclr` (<paramref name="File"/>, used as it is), or SimCLR
/// pre-training settings (<paramref name="Pretraining"/>, data = the plan's dataset) that the runner trains once and caches.
/// </summary>
public sealed record CleanEncoderChoice(string? File, TrainingConfig? Pretraining)
{
    public JsonObject Config() => File is not null
        ? new JsonObject { ["file"] = File }
        : new JsonObject { ["simclr"] = JsonNode.Parse(Pretraining!.ToJson()) };

    /// <summary>The encoder's network as far as the plan knows it (a file's is read when a cell runs).</summary>
    public ArchitectureChoice Architecture => Pretraining is { } p ? new ArchitectureChoice(p.Architecture, p.WidthMultiplier) : new ArchitectureChoice("encoder", 1);

    /// <summary>The `circumvent pretrain` command that makes this encoder (or made the file).</summary>
    public string Command(string output) => Pretraining is { } p
        ? $"circumvent pretrain --method simclr --arch {p.Architecture} --width {N(p.WidthMultiplier)} --data {p.Data} --epochs {N(p.Epochs)} " +
          $"--batch-size {p.BatchSize} --lr {N(p.LearningRate)} --weight-decay {N(p.WeightDecay)} --seed {p.Seed}" +
          (p.LimitTrain > 0 ? $" --limit-train {p.LimitTrain}" : "") + $" --out {output}"
        : $"(given file {File})";

    internal static string N(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// A reference image of BadEncoder's target class: an image file (<paramref name="File"/>), or the
/// <paramref name="Index"/>-th training image (0-based, in the dataset's order) of class <paramref name="Class"/> of
/// <paramref name="Data"/>, written to the cache as a PPM when the attack trains.
/// </summary>
public sealed record ReferenceImage(string? File, string? Data = null, int Class = 0, int Index = 0)
{
    public JsonNode ToJson() => File is not null
        ? JsonValue.Create(File)
        : new JsonObject { ["data"] = Data, ["class"] = Class, ["index"] = Index };
}

/// <summary>
/// An attack on the clean encoder (the plan's attack entry of an encoder plan): none (the clean encoder itself),
/// badencoder or ctrl, with its recipe. <see cref="Training"/>'s seed is the attack's default seed; a cell adds its own.
/// </summary>
/// <param name="Downstream">The downstream dataset whose class <see cref="Target"/> is and on which ASR is measured (null for none).</param>
public sealed record EncoderAttack(string Kind, string? Downstream, int Target, TrainingConfig? Training,
    IReadOnlyList<ReferenceImage> References, AttackDefinition? Patch, double Lambda1, double Lambda2, double PoisonRate, double Magnitude)
{
    public const string None = "none";
    public const string BadEncoder = BadEncoderTraining.Method;
    public const string Ctrl = "ctrl";
    public static IReadOnlyList<string> Kinds { get; } = [None, BadEncoder, Ctrl];

    /// <summary>The recipe of the cell with seed <paramref name="seed"/> (the attack's default seed plus the cell's).</summary>
    public TrainingConfig TrainingFor(int seed) => Training! with { Seed = Training.Seed + seed };

    /// <summary>CTRL's poisoning of the pre-training set (and the trigger of its ASR).</summary>
    public CtrlPoisoning CtrlPoisoning => new(new CtrlTrigger(Magnitude), Target, PoisonRate);

    /// <summary>BadEncoder's settings for a clean encoder file and the reference files as the cell resolved them.</summary>
    public BadEncoderTraining.Settings BadEncoderSettings(string cleanEncoder, IReadOnlyList<string> referenceFiles) =>
        new(cleanEncoder, referenceFiles, Target, Patch!, Lambda1, Lambda2);

    /// <summary>What ASR is measured with: the trigger, the target and the downstream set (null for none).</summary>
    public JsonObject? TriggerConfig() => Kind switch
    {
        None => null,
        BadEncoder => new JsonObject { ["kind"] = Kind, ["downstream"] = Downstream, ["target"] = Target, ["patch"] = JsonNode.Parse(Patch!.ToJson()) },
        _ => new JsonObject { ["kind"] = Kind, ["downstream"] = Downstream, ["target"] = Target, ["magnitude"] = Magnitude },
    };

    /// <summary>Everything that determines the attacked encoder at <paramref name="seed"/>, besides the clean encoder.</summary>
    public JsonObject Config(int seed)
    {
        var config = new JsonObject { ["kind"] = Kind, ["target"] = Target, ["training"] = JsonNode.Parse(TrainingFor(seed).ToJson()) };
        if (Kind == BadEncoder)
        {
            config["references"] = new JsonArray([.. References.Select(r => r.ToJson())]);
            config["patch"] = JsonNode.Parse(Patch!.ToJson());
            config["lambda1"] = Lambda1;
            config["lambda2"] = Lambda2;
        }
        else
        {
            config["poison_rate"] = PoisonRate;
            config["magnitude"] = Magnitude;
        }
        return config;
    }
}
