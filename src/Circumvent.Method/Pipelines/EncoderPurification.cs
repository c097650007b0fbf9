using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// How an encoder is scored while it is purified or its curves sampled: the downstream dataset of its probes (null:
/// the pre-training dataset itself, CIFAR-10 → CIFAR-10 being the BadEncoder self-monitor), the probes' training, and the kNN.
/// <paramref name="Trigger"/>: an attack on the encoder that is not a classifier's (CTRL's frequency trigger), giving ASR
/// where the model records no attack; null: the model's own attack, if any.
/// </summary>
public sealed record EncoderScoring(string? Downstream = null, ProbeOptions? Probe = null, int KnnK = KnnMonitor.DefaultK,
    float KnnTemperature = KnnMonitor.DefaultTemperature, EncoderTrigger? Trigger = null)
{
    public ProbeOptions ProbeOrDefault => Probe ?? new ProbeOptions();
}

/// <summary>
/// A trigger on downstream images: <see cref="NonTarget"/> gives a test split's non-target images with it (true labels
/// kept); <see cref="Description"/> names it in the run's identity (e.g. CTRL's settings).
/// </summary>
public sealed record EncoderTrigger(int Target, Func<ImageDataset, ImageDataset> NonTarget, string Description);

/// <summary>
/// What purifying a SimCLR encoder changes against a classifier's purification (doc §1.3–1.6): the curves and
/// fine-tuning minimise NT-Xent on two SimCLR views of each clean image, BN statistics and matching see one view, the
/// encoder's last stream and its projection head are never permuted (<see cref="Permutations.PermutationSpecs"/>), and
/// every stage is scored by a downstream probe (ACC/ASR) and kNN.
/// </summary>
public static class EncoderPurification
{
    public const string Supervised = "supervised";
    public const string SimClr = "simclr";
    /// <summary>A small CLIP's image tower under the image–text InfoNCE against its frozen text tower (<see cref="ClipPurification"/>).</summary>
    public const string Clip = "clip";
    public static IReadOnlyList<string> Objectives { get; } = [Supervised, SimClr, Clip];

    /// <summary>The views of a SimCLR defence: the pre-training recipe (torchvision's train_transform, RRC scale 0.08–1).</summary>
    public static ContrastiveAugmentation Views => ContrastiveAugmentation.SimClr;

    /// <summary>Refuses a model whose kind does not fit the objective, naming both.</summary>
    public static void CheckObjective(string modelPath, ModelCheckpoint checkpoint, string objective)
    {
        bool encoder = checkpoint.Encoder is not null, clip = checkpoint.Clip is not null;
        if (objective == Clip && !clip)
            throw new ArgumentException($"--objective clip needs a CLIP model (a checkpoint with role '{ModelCheckpoint.ClipRole}', from `circumvent pretrain --method clip`); --model '{modelPath}' is not one.");
        if (objective != Clip && clip)
            throw new ArgumentException($"--model '{modelPath}' is a CLIP model (role '{ModelCheckpoint.ClipRole}'); purify it with --objective clip.");
        if (objective == SimClr && !encoder)
            throw new ArgumentException($"--objective simclr needs an encoder (a checkpoint with role '{ModelCheckpoint.EncoderRole}', e.g. from `circumvent pretrain`); --model '{modelPath}' is a classifier.");
        if (objective == Supervised && encoder)
            throw new ArgumentException($"--model '{modelPath}' is an encoder (role '{ModelCheckpoint.EncoderRole}'); purify it with --objective simclr.");
    }

    /// <summary>NT-Xent at the temperature the encoder was pre-trained with (its metadata), else the authors' 0.5.</summary>
    public static SimClrObjective Objective(ModelCheckpoint checkpoint)
    {
        float temperature = SimClrObjective.DefaultTemperature;
        if (checkpoint.Extra.TryGetValue(SimClrPretraining.SimClrKey, out var json))
        {
            try
            {
                if (JsonNode.Parse(json)?["temperature"] is JsonValue value && value.TryGetValue(out double t) && t > 0) temperature = (float)t;
            }
            catch (JsonException) { } // an unreadable note about pre-training does not stop a purification: the default applies
        }
        return new SimClrObjective(temperature);
    }

    /// <summary>The scorer of every stage: features extracted once per weight set, kNN on the pre-training data, probes on the downstream data (<paramref name="tests"/>).</summary>
    public static Func<ParameterSet, BackdoorScores> Scorer(SimClrNetwork network, EncoderTestSet tests, ProbeOptions probe, Action<string>? log,
        CancellationToken cancellation) =>
        parameters => EncoderEvaluation.Evaluate(network, parameters, tests, probe, log, cancellation).ToBackdoorScores();

    /// <summary>The downstream dataset: <paramref name="scoring"/>'s, or the pre-training one when none is named.</summary>
    public static (DatasetSpec Spec, DatasetPair Data) Downstream(EncoderScoring scoring, DatasetSpec pretrainingSpec, DatasetPair pretraining, ArchitectureConfig encoder)
    {
        if (scoring.Downstream is null) return (pretrainingSpec, pretraining);
        var spec = DatasetSpec.Parse(scoring.Downstream);
        // The pre-training set named again (CIFAR-10 downstream of a CIFAR-10 encoder): the same object, loaded once, whose
        // features scoring then extracts once for kNN memory and probe training alike.
        if (SameSet(spec, pretrainingSpec)) return (spec, pretraining);
        var data = spec.Load();
        if (data.Train.Channels != encoder.InChannels || data.Train.Height != encoder.Height || data.Train.Width != encoder.Width)
            throw new ArgumentException($"--downstream {spec.Kind} has {data.Train.Channels}×{data.Train.Height}×{data.Train.Width} images; the encoder takes {encoder.InChannels}×{encoder.Height}×{encoder.Width}.");
        return (spec, data);
    }

    /// <summary>Whether two specs name the same dataset (same kind, same folder however written).</summary>
    public static bool SameSet(DatasetSpec a, DatasetSpec b) =>
        a == b || (a.Kind == b.Kind && a.Path.Length > 0 && b.Path.Length > 0 && FullPath(a.Path) == FullPath(b.Path));

    private static string FullPath(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    /// <summary>What a run folder records so `curve` can score its curves the same way and a resumed run matches.</summary>
    public static JsonObject Identity(EncoderScoring scoring, DatasetSpec downstream) => new()
    {
        ["objective"] = SimClr,
        ["views"] = Views.Describe(),
        ["downstream"] = downstream.ToString(),
        ["probe"] = new JsonObject
        {
            ["kinds"] = new JsonArray([.. scoring.ProbeOrDefault.Kinds.Select(k => (JsonNode)JsonValue.Create(k.ToString().ToLowerInvariant()))]),
            ["epochs"] = scoring.ProbeOrDefault.Epochs,
            ["lr"] = scoring.ProbeOrDefault.LearningRate,
            ["batch_size"] = scoring.ProbeOrDefault.BatchSize,
            ["seed"] = scoring.ProbeOrDefault.Seed,
        },
        ["knn"] = new JsonObject { ["k"] = scoring.KnnK, ["temperature"] = scoring.KnnTemperature },
    };

    /// <summary>The scoring a run folder's identity records (see <see cref="Identity"/>); null for a classifier's run.</summary>
    public static EncoderScoring? FromIdentity(JsonObject input)
    {
        if (input["objective"]?.GetValue<string>() != SimClr) return null;
        var probe = input["probe"] as JsonObject;
        var knn = input["knn"] as JsonObject;
        var defaults = new ProbeOptions();
        return new EncoderScoring(
            input["downstream"]?.GetValue<string>(),
            probe is null ? null : new ProbeOptions
            {
                Kinds = probe["kinds"] is JsonArray kinds ? [.. kinds.Select(k => Enum.Parse<ProbeKind>(k!.GetValue<string>(), ignoreCase: true))] : defaults.Kinds,
                Epochs = probe["epochs"]?.GetValue<int>() ?? defaults.Epochs,
                LearningRate = probe["lr"]?.GetValue<double>() ?? defaults.LearningRate,
                BatchSize = probe["batch_size"]?.GetValue<int>() ?? defaults.BatchSize,
                Seed = probe["seed"]?.GetValue<int>() ?? defaults.Seed,
            },
            knn?["k"]?.GetValue<int>() ?? KnnMonitor.DefaultK,
            (float)(knn?["temperature"]?.GetValue<double>() ?? KnnMonitor.DefaultTemperature));
    }
}
