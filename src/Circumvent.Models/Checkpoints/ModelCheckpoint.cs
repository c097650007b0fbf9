using System.Globalization;
using System.Text.Json;
using Circumvent.Engine;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// A trained model on disk as one safetensors or PyTorch (.pth) file: the state_dict (plus `num_batches_tracked` for every
/// BN so PyTorch's load_state_dict(strict=True) accepts it) and, in __metadata__, everything needed to
/// rebuild and use it: architecture, class names, input shape, normalisation, training config.
/// </summary>
public sealed class ModelCheckpoint
{
    public const string ArchitectureKey = "circumvent.architecture";
    public const string ClassesKey = "circumvent.classes";
    public const string ClassNamesKey = "circumvent.class_names";
    public const string InputShapeKey = "circumvent.input_shape";
    public const string NormalizationKey = "circumvent.normalization";
    public const string TrainingKey = "circumvent.training";
    /// <summary>
    /// What the network is, when it is not a classifier: "encoder" for a self-supervised encoder f with its projection
    /// head g (<see cref="SimClrNetwork"/>: tensors "f.*" and "g.*"). Absent for classifiers.
    /// </summary>
    public const string RoleKey = "circumvent.role";
    public const string EncoderRole = "encoder";
    /// <summary>A small CLIP (<see cref="ClipNetwork"/>): image tower "visual.*", text tower "text.*", "logit_scale".</summary>
    public const string ClipRole = "clip";
    /// <summary>A CLIP image tower alone (<see cref="ClipImageTower"/>, "visual.*"): what a CLIP purification's curve files hold.</summary>
    public const string ClipImageRole = "clip-image";
    private const string FormatKey = "format";

    private static readonly HashSet<string> ReservedKeys =
        [ArchitectureKey, ClassesKey, ClassNamesKey, InputShapeKey, NormalizationKey, TrainingKey, FormatKey];

    public required ArchitectureConfig Architecture { get; init; }
    public required ParameterSet Parameters { get; init; }
    /// <summary>One name per class, or null when only the count (Architecture.Classes) is known.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
    /// <summary>Per-channel mean/std the inputs are normalised with before the network, or null for none.</summary>
    public float[]? NormalizationMean { get; init; }
    public float[]? NormalizationStd { get; init; }
    /// <summary>Free-form JSON of the training configuration.</summary>
    public string? TrainingJson { get; init; }
    /// <summary>Further metadata (e.g. attack definitions), stored under these keys as given.</summary>
    public Dictionary<string, string> Extra { get; init; } = new(StringComparer.Ordinal);
    /// <summary>
    /// The network whose state_dict <see cref="Parameters"/> is, when it is not the built-in that <see cref="Architecture"/>
    /// names (e.g. a SimCLR encoder with its projection head, built on that architecture); null: that built-in.
    /// </summary>
    public IArchitecture? Network { get; init; }
    /// <summary>The network <see cref="Parameters"/> belong to: <see cref="Network"/>, else the built-in <see cref="Architecture"/> names.</summary>
    public IArchitecture CreateNetwork() => Network ?? Architectures.Create(Architecture);

    /// <summary>A self-supervised encoder (role "encoder"): features for kNN and probes, a projection for its contrastive loss.</summary>
    public SimClrNetwork? Encoder => Network as SimClrNetwork;

    /// <summary>A small CLIP (role "clip"): image and text towers and the logit scale.</summary>
    public ClipNetwork? Clip => Network as ClipNetwork;

    /// <summary>num_batches_tracked per BN prefix; absent prefixes are saved as 0.</summary>
    public Dictionary<string, long> BatchesTracked { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Problems found while loading that did not stop it (non-finite weights under <see cref="NonFinitePolicy.Warn"/>).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>(C, H, W) the architecture was built for.</summary>
    public int[] InputShape => [Architecture.InChannels, Architecture.Height, Architecture.Width];

    /// <summary>
    /// Writes the checkpoint atomically (temp file + rename); validates names and shapes first. A `.pth`/`.pt`
    /// path gets PyTorch's zip format (torch.load(weights_only=True) reads it), any other path safetensors.
    /// </summary>
    public void Save(string path)
    {
        var arch = Network ?? CreateArchitecture(path, Architecture);
        var tensors = new List<SafeTensor>();
        var byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var entry in Parameters)
        {
            var t = SafeTensor.FromFloats(entry.Name, entry.Tensor.Shape.ToArray(), entry.Tensor.ToArray());
            byName[entry.Name] = t;
        }
        var problems = StateDictValidator.Problems(arch.Tensors, byName);
        if (problems.Count > 0)
            throw new CheckpointException(path, $"parameters do not match {Architecture.Name}: {string.Join("; ", problems)}.");

        // state_dict order: each BN's num_batches_tracked follows its running_var, as in PyTorch.
        foreach (var spec in arch.Tensors)
        {
            tensors.Add(byName[spec.Name]);
            if (spec.Name.EndsWith(".running_var", StringComparison.Ordinal))
            {
                var prefix = spec.Name[..^".running_var".Length];
                tensors.Add(SafeTensor.FromInt64s(prefix + StateDictValidator.BatchesTrackedSuffix, [], [BatchesTracked.GetValueOrDefault(prefix)]));
            }
        }
        CheckpointFiles.Write(path, tensors, BuildMetadata(path));
    }

    /// <summary>
    /// Reads and validates a checkpoint (safetensors or .pth). <paramref name="architecture"/> overrides (or
    /// supplies, for a plain PyTorch export without Circumvent metadata) the stored architecture.
    /// Parameters of the result require gradients; buffers do not.
    /// </summary>
    public static ModelCheckpoint Load(string path, ArchitectureConfig? architecture = null, NonFinitePolicy nonFinite = NonFinitePolicy.Reject)
    {
        var content = CheckpointFiles.Read(path);
        return FromContent(path, content, architecture ?? ParseArchitecture(path, content.Metadata), nonFinite);
    }

    /// <summary>The architecture stored in a file's metadata, or null when it has none (a plain state_dict).</summary>
    public static ArchitectureConfig? StoredArchitecture(string path, SafeTensorsContent content) =>
        content.Metadata.ContainsKey(ArchitectureKey) ? ParseArchitecture(path, content.Metadata) : null;

    /// <summary>
    /// Validates already-read tensors against <paramref name="config"/> (an encoder's, role "encoder", as a <see cref="SimClrNetwork"/>
    /// with the head its tensors have) and builds the checkpoint.
    /// </summary>
    public static ModelCheckpoint FromContent(string path, SafeTensorsContent content, ArchitectureConfig config, NonFinitePolicy nonFinite = NonFinitePolicy.Reject)
    {
        var meta = content.Metadata;
        var found = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var t in content.Tensors) found[t.Name] = t;
        var arch = CreateNetwork(path, config, meta, found);
        var problems = StateDictValidator.Problems(arch.Tensors, found);
        if (problems.Count > 0)
            throw new CheckpointException(path, $"does not match {config.Name}: {string.Join("; ", problems)}.");

        var warnings = new List<string>();
        var parameters = new ParameterSet();
        foreach (var spec in arch.Tensors)
        {
            var tensor = found[spec.Name];
            if (NonFiniteCheck.Describe(tensor) is { } nonFiniteProblem)
            {
                if (nonFinite == NonFinitePolicy.Reject)
                    throw new CheckpointException(path, nonFiniteProblem + " (load with --allow-nonfinite to accept it).", spec.Name);
                warnings.Add($"Checkpoint '{path}', tensor '{spec.Name}': {nonFiniteProblem}.");
            }
            parameters.Add(spec.Name, new Tensor(spec.Shape.ToArray(), tensor.Floats!, spec.Role == TensorRole.Parameter), spec.Role);
        }
        var tracked = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var prefix in StateDictValidator.BatchNormPrefixes(arch.Tensors))
            tracked[prefix] = found.TryGetValue(prefix + StateDictValidator.BatchesTrackedSuffix, out var counter) ? counter.Int64s![0] : 0;

        var (mean, std) = ParseNormalization(path, meta);
        return new ModelCheckpoint
        {
            Architecture = config,
            Parameters = parameters,
            ClassNames = meta.TryGetValue(ClassNamesKey, out var names) ? ParseJson<string[]>(path, ClassNamesKey, names) : null,
            NormalizationMean = mean,
            NormalizationStd = std,
            TrainingJson = meta.GetValueOrDefault(TrainingKey),
            Extra = meta.Where(kv => !ReservedKeys.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            BatchesTracked = tracked,
            Warnings = warnings,
            Network = arch is SimClrNetwork or ClipNetwork or ClipImageTower ? arch : null,
        };
    }

    private static IArchitecture CreateNetwork(string path, ArchitectureConfig config, IReadOnlyDictionary<string, string> meta,
        Dictionary<string, SafeTensor> found) =>
        NetworkFor(path, config, meta, name => found.TryGetValue(name, out var t) ? t.Shape : null);

    /// <summary>
    /// The network a file's tensors belong to: the built-in <paramref name="config"/> names, or for role "encoder"
    /// (<see cref="RoleKey"/>) that built-in as the encoder f of a <see cref="SimClrNetwork"/> whose head sizes are
    /// read from the shapes of g.0 (hidden, d) and g.3 (projection, hidden) (<paramref name="shapeOf"/>: null when absent).
    /// Checkpoints and curve files share it.
    /// </summary>
    public static IArchitecture NetworkFor(string path, ArchitectureConfig config, IReadOnlyDictionary<string, string> meta, Func<string, int[]?> shapeOf)
    {
        var arch = CreateArchitecture(path, config);
        if (!meta.TryGetValue(RoleKey, out var role)) return arch;
        if (role != EncoderRole && role != ClipRole && role != ClipImageRole)
            throw new CheckpointException(path, $"metadata '{RoleKey}' is '{role}'; the known roles are '{EncoderRole}', '{ClipRole}' and '{ClipImageRole}' (classifiers have none).");
        if (arch is not IFeatureExtractor encoder)
            throw new CheckpointException(path, $"is an encoder, but {config.Name} cannot be one (its logits are not one linear layer on a feature vector).");
        int[] Matrix(string name, string what) => shapeOf(name) is { Length: 2 } shape && shape[0] > 0 && shape[1] > 0
            ? shape
            : throw new CheckpointException(path, $"{what} needs a 2-dimensional weight.", name);
        if (role == ClipImageRole) return new ClipImageTower(encoder, Matrix(ClipImageTower.ProjectionName + ".weight", "a CLIP image tower")[0]);
        if (role == ClipRole)
        {
            int joint = Matrix(ClipImageTower.ProjectionName + ".weight", "a CLIP image tower")[0];
            var embedding = Matrix(ClipTextTower.EmbeddingName, "a CLIP text tower");
            return new ClipNetwork(encoder, embedding[0], embedding[1], joint);
        }
        int HeadSize(string name) => Matrix(name, "an encoder checkpoint's projection head")[0];
        return new SimClrNetwork(encoder, HeadSize(SimClrNetwork.HeadPrefix + "0.weight"), HeadSize(SimClrNetwork.HeadPrefix + "3.weight"));
    }

    /// <summary>The metadata that makes <see cref="NetworkFor"/> rebuild <paramref name="network"/>: the role of an encoder, nothing for a built-in.</summary>
    public static IEnumerable<KeyValuePair<string, string>> RoleMetadata(IArchitecture network) =>
        network switch
        {
            SimClrNetwork => [new(RoleKey, EncoderRole)],
            ClipNetwork => [new(RoleKey, ClipRole)],
            ClipImageTower => [new(RoleKey, ClipImageRole)],
            _ => [],
        };

    private Dictionary<string, string> BuildMetadata(string path)
    {
        if (ClassNames is not null && ClassNames.Count != Architecture.Classes)
            throw new CheckpointException(path, $"{ClassNames.Count} class names given for a {Architecture.Classes}-class model.");
        if ((NormalizationMean is null) != (NormalizationStd is null))
            throw new CheckpointException(path, "normalisation needs both mean and std (or neither).");
        if (NormalizationMean is not null && (NormalizationMean.Length != Architecture.InChannels || NormalizationStd!.Length != Architecture.InChannels))
            throw new CheckpointException(path,
                $"normalisation mean/std have {NormalizationMean.Length}/{NormalizationStd!.Length} values for {Architecture.InChannels} input channels.");

        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = "pt",
            [ArchitectureKey] = ArchitectureConfigJson.Serialize(Architecture),
            [ClassesKey] = Architecture.Classes.ToString(CultureInfo.InvariantCulture),
            [InputShapeKey] = JsonSerializer.Serialize(InputShape),
        };
        if (ClassNames is not null) meta[ClassNamesKey] = JsonSerializer.Serialize(ClassNames);
        if (NormalizationMean is not null)
            meta[NormalizationKey] = JsonSerializer.Serialize(new Dictionary<string, float[]> { ["mean"] = NormalizationMean, ["std"] = NormalizationStd! });
        if (TrainingJson is not null) meta[TrainingKey] = TrainingJson;
        if (Network is not null) foreach (var (key, value) in RoleMetadata(Network)) meta[key] = value;
        foreach (var (key, value) in Extra)
        {
            if (ReservedKeys.Contains(key))
                throw new CheckpointException(path, $"extra metadata key '{key}' is reserved for Circumvent's own fields.");
            meta[key] = value;
        }
        return meta;
    }

    private static IArchitecture CreateArchitecture(string path, ArchitectureConfig config)
    {
        try
        {
            return Architectures.Create(config);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException(path, e.Message, inner: e);
        }
    }

    private static ArchitectureConfig ParseArchitecture(string path, IReadOnlyDictionary<string, string> meta)
    {
        if (!meta.TryGetValue(ArchitectureKey, out var text))
            throw new CheckpointException(path, $"no '{ArchitectureKey}' metadata; pass the architecture explicitly (--arch) to load a plain state_dict.");
        try
        {
            return ArchitectureConfigJson.Parse(text);
        }
        catch (FormatException e)
        {
            throw new CheckpointException(path, $"metadata '{ArchitectureKey}' is not a valid architecture: {e.Message}", inner: e);
        }
    }

    private static (float[]? Mean, float[]? Std) ParseNormalization(string path, IReadOnlyDictionary<string, string> meta)
    {
        if (!meta.TryGetValue(NormalizationKey, out var text)) return (null, null);
        var parsed = ParseJson<Dictionary<string, float[]>>(path, NormalizationKey, text);
        if (!parsed.TryGetValue("mean", out var mean) || !parsed.TryGetValue("std", out var std))
            throw new CheckpointException(path, $"metadata '{NormalizationKey}' needs 'mean' and 'std' arrays, found {text}.");
        return (mean, std);
    }

    private static T ParseJson<T>(string path, string key, string text)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(text) ?? throw new JsonException("null value");
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"metadata '{key}' is not valid: {e.Message}", inner: e);
        }
    }
}
