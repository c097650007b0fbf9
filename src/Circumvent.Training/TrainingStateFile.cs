using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Training;

/// <summary>
/// A training run's progress in one safetensors file, rewritten atomically when <see cref="ProgressSaving"/> allows (at
/// most once per interval; the epochs in between wait in memory for the next write or <see cref="Flush"/>): every
/// parameter and buffer ("parameter/NAME"), the optimiser's buffers ("optimizer/KEY", see
/// <see cref="OptimizerState"/>), and in the metadata the position (epochs done, and steps done of the next epoch with
/// its running sums when the run was stopped inside one), the optimiser's step count, the BN batch counts and the run's
/// config. Data order and dropout derive from (seed, epoch) and each batch's augmentation from (seed, epoch, batch), so a
/// resumed run computes what the uninterrupted one would have, bit for bit (see <see cref="TrainingLoop"/> for where
/// inside an epoch it may resume). A file written before positions inside an epoch existed reads as its
/// epochs done.
/// </summary>
/// <param name="path">The state file, e.g. the model's output path + ".train-state".</param>
/// <param name="configJson">The run's config (<see cref="TrainingConfig.ToJson"/>): a saved state of another config is refused, never mixed in.</param>
/// <param name="extraParts">Networks that train alongside (a training objective's), saved in the same file so the
/// two can never be from different epochs.</param>
/// <param name="saving">How often the file may be written, and where its bytes are counted (null: <see cref="ProgressSaving.FromEnvironment"/>).</param>
public sealed class TrainingStateFile(string path, ParameterSet parameters, RunningStatsUpdater? batchNormStats, string configJson,
    IReadOnlyList<TrainingStatePart>? extraParts = null, ProgressSaving? saving = null) : ITrainingState
{
    private const string MetadataKey = "circumvent.training_state";

    private readonly ProgressSaving _saving = saving ?? ProgressSaving.FromEnvironment();
    // When the file was last written, or the work started (Restore); a TimeProvider timestamp.
    private long _lastWrite;
    // The latest finished epoch's progress when it was not written yet: copies, since training goes on.
    private Snapshot? _pending;

    public string FilePath => path;

    private Lazy<string>? _inputDigest;

    /// <summary>
    /// What the run's inputs hold (e.g. a SHA-256 of its images and of every file its key names; asked for once, when
    /// first needed), recorded beside the key. A state whose key differs from this run's only in where its inputs are
    /// (<see cref="InputLocations.WithoutPlaces"/>: data moved, or mounted elsewhere on another node) then resumes when
    /// they held the same, and from then on records the new places; a state of the same key whose inputs held other
    /// content (data changed in place) is refused. Null: the key alone decides, as for a state written without a digest.
    /// </summary>
    public Func<string>? InputDigest
    {
        init => _inputDigest = value is null ? null : new Lazy<string>(value);
    }

    /// <summary>The key as an earlier version wrote it for the same run, so a state it saved still resumes (then saved under the current key).</summary>
    public string? EarlierKey { get; init; }

    // The run's own network, its names unprefixed (tensors "parameter/NAME", "optimizer/KEY"), then the
    // extra parts, prefixed with their names ("generator.parameter/…").
    private IEnumerable<(string Prefix, TrainingStatePart Part)> Parts(IOptimizer optimizer) =>
        [("", new TrainingStatePart("", parameters, batchNormStats, optimizer)), .. (extraParts ?? []).Select(p => (p.Name + ".", p))];

    public bool IsDue => _saving.IsDue(_lastWrite);

    public TrainingPosition Restore(IOptimizer optimizer)
    {
        _lastWrite = _saving.Clock.GetTimestamp();
        _pending = null;
        if (!File.Exists(path)) return TrainingPosition.Start;
        var content = SafeTensorsReader.Read(path);
        var meta = content.Metadata.TryGetValue(MetadataKey, out var text) ? JsonNode.Parse(text)?.AsObject() : null;
        if (meta is null) throw Invalid("it has no training-state metadata");
        CheckSameRun(meta);
        var tensors = content.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var (prefix, (_, set, stats, partOptimizer)) in Parts(optimizer))
        {
            foreach (var entry in set)
            {
                if (!tensors.TryGetValue(prefix + "parameter/" + entry.Name, out var saved) || saved.Floats is not { } values || values.Length != entry.Tensor.Length)
                    throw Invalid($"'{prefix}{entry.Name}' is missing or has another size");
                values.CopyTo(entry.Tensor.Data, 0);
            }
            string optimizerPrefix = prefix + "optimizer/";
            var buffers = content.Tensors.Where(t => t.Name.StartsWith(optimizerPrefix, StringComparison.Ordinal))
                .ToDictionary(t => t.Name[optimizerPrefix.Length..], t => t.Floats ?? throw Invalid($"'{t.Name}' is not float"), StringComparer.Ordinal);
            partOptimizer?.ImportState(new OptimizerState(meta[prefix + "optimizer_steps"]!.GetValue<long>(), buffers));
            stats?.RestoreBatchesTracked(meta[prefix + "batches_tracked"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<long>()));
        }
        int epochs = meta["epochs_done"]?.GetValue<int>() ?? throw Invalid("it records no epochs done");
        if (meta["inside_epoch"] is not JsonObject inside) return TrainingPosition.AfterEpochs(epochs);
        return new TrainingPosition(epochs, inside["batches_done"]!.GetValue<int>(), inside["loss_sum"]!.GetValue<double>(),
            inside["seen"]!.GetValue<long>(), inside["scored"]!.GetValue<long>(), inside["correct"]!.GetValue<long>());
    }

    // The saved run is this one: the same key, or the same key but for the places of inputs; and where both record what
    // the inputs held, the same content (so data changed in place is not mixed in either).
    private void CheckSameRun(JsonObject meta)
    {
        string? savedKey = meta["config"]?.GetValue<string>();
        string? savedDigest = meta["content"]?.GetValue<string>();
        // (A relative dataset path, as builds before session 19 recorded --data, is compared made absolute.)
        string? rootedKey = savedKey is null ? null : InputLocations.WithDataPathsRooted(savedKey);
        bool sameKey = savedKey == configJson || (EarlierKey is not null && savedKey == EarlierKey) || rootedKey == InputLocations.WithDataPathsRooted(configJson);
        bool moved = !sameKey && rootedKey is not null && savedDigest is not null && _inputDigest is not null
            && InputLocations.WithoutPlaces(rootedKey) == InputLocations.WithoutPlaces(configJson);
        if (!sameKey && !moved)
            throw new CheckpointException(path, "holds the progress of a training run with other settings; delete it to start over, or rerun with the settings it was made with.");
        if (savedDigest is not null && _inputDigest is not null && savedDigest != _inputDigest.Value)
            throw new CheckpointException(path, "holds the progress of a training run whose inputs held other content (the data or a file its settings name "
                + "differs from what it was made with); delete it to start over, or rerun with those inputs.");
    }

    public void Save(TrainingPosition position, IOptimizer optimizer)
    {
        if (IsDue) Write(Capture(position, optimizer, copy: false));
        else _pending = Capture(position, optimizer, copy: true);
    }

    public void Flush()
    {
        if (_pending is { } pending) Write(pending);
    }

    private void Write(Snapshot snapshot)
    {
        SafeTensorsWriter.Write(path, snapshot.Tensors, snapshot.Metadata);
        _saving.Count(path);
        _lastWrite = _saving.Clock.GetTimestamp();
        _pending = null;
    }

    // The tensors and metadata of the file; with copy, the parameters are copied (ExportState already copies the optimiser's buffers).
    private Snapshot Capture(TrainingPosition position, IOptimizer optimizer, bool copy)
    {
        var tensors = new List<SafeTensor>();
        var meta = new JsonObject { ["epochs_done"] = position.EpochsDone, ["config"] = configJson };
        if (_inputDigest is not null) meta["content"] = _inputDigest.Value;
        if (position.InsideEpoch)
            meta["inside_epoch"] = new JsonObject
            {
                ["batches_done"] = position.BatchesDone, ["loss_sum"] = position.LossSum, ["seen"] = position.Seen,
                ["scored"] = position.Scored, ["correct"] = position.Correct,
            };
        foreach (var (prefix, (_, set, stats, partOptimizer)) in Parts(optimizer))
        {
            tensors.AddRange(set.Select(e => SafeTensor.FromFloats(prefix + "parameter/" + e.Name, e.Tensor.Shape.ToArray(),
                copy ? (float[])e.Tensor.Data.Clone() : e.Tensor.Data)));
            if (partOptimizer is not null)
            {
                var state = partOptimizer.ExportState();
                tensors.AddRange(state.Buffers.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    .Select(kv => SafeTensor.FromFloats(prefix + "optimizer/" + kv.Key, [kv.Value.Length], kv.Value)));
                meta[prefix + "optimizer_steps"] = state.Steps;
            }
            var batches = new JsonObject();
            foreach (var (bn, count) in stats?.BatchesTracked ?? new Dictionary<string, long>()) batches[bn] = count;
            meta[prefix + "batches_tracked"] = batches;
        }
        return new Snapshot(tensors, new Dictionary<string, string> { [MetadataKey] = meta.ToJsonString() });
    }

    /// <summary>Removes the file once the run's result is saved.</summary>
    public void Delete()
    {
        _pending = null;
        if (File.Exists(path)) File.Delete(path);
    }

    private CheckpointException Invalid(string what) =>
        new(path, $"not a usable training state ({what}); delete it to start the run over.");

    private sealed record Snapshot(List<SafeTensor> Tensors, Dictionary<string, string> Metadata);
}

/// <summary>A network trained alongside the run's own (e.g. a training objective's), saved in its state file under <paramref name="Name"/>.</summary>
public sealed record TrainingStatePart(string Name, ParameterSet Tensors, RunningStatsUpdater? Stats, IOptimizer? Optimizer);
