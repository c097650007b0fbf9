using System.Text.Json.Nodes;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Training;

/// <summary>
/// A training run's progress in one safetensors file, rewritten atomically after every epoch: every
/// parameter and buffer ("parameter/NAME"), the optimiser's buffers ("optimizer/KEY", see
/// <see cref="OptimizerState"/>), and in the metadata the epochs done, the optimiser's step count,
/// the BN batch counts and the run's config. Data order, augmentation and dropout derive from
/// (seed, epoch), so a resumed run computes what the uninterrupted one would have, bit for bit.
/// </summary>
/// <param name="path">The state file, e.g. the model's output path + ".train-state".</param>
/// <param name="configJson">The run's config (<see cref="TrainingConfig.ToJson"/>): a saved state of another config is refused, never mixed in.</param>
public sealed class TrainingStateFile(string path, ParameterSet parameters, RunningStatsUpdater? batchNormStats, string configJson) : ITrainingState
{
    private const string MetadataKey = "circumvent.training_state", ParameterPrefix = "parameter/", OptimizerPrefix = "optimizer/";

    public string FilePath => path;

    public int Restore(IOptimizer optimizer)
    {
        if (!File.Exists(path)) return 0;
        var content = SafeTensorsReader.Read(path);
        var meta = content.Metadata.TryGetValue(MetadataKey, out var text) ? JsonNode.Parse(text)?.AsObject() : null;
        if (meta is null) throw Invalid("it has no training-state metadata");
        if (meta["config"]?.GetValue<string>() != configJson)
            throw new CheckpointException(path, "holds the progress of a training run with other settings; delete it to start over, or rerun with the settings it was made with.");
        var tensors = content.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var entry in parameters)
        {
            if (!tensors.TryGetValue(ParameterPrefix + entry.Name, out var saved) || saved.Floats is not { } values || values.Length != entry.Tensor.Length)
                throw Invalid($"'{entry.Name}' is missing or has another size");
            values.CopyTo(entry.Tensor.Data, 0);
        }
        var buffers = content.Tensors.Where(t => t.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
            .ToDictionary(t => t.Name[OptimizerPrefix.Length..], t => t.Floats ?? throw Invalid($"'{t.Name}' is not float"), StringComparer.Ordinal);
        optimizer.ImportState(new OptimizerState(meta["optimizer_steps"]!.GetValue<long>(), buffers));
        batchNormStats?.RestoreBatchesTracked(meta["batches_tracked"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<long>()));
        return meta["epochs_done"]!.GetValue<int>();
    }

    public void Save(int epochsDone, IOptimizer optimizer)
    {
        var state = optimizer.ExportState();
        var tensors = parameters.Select(e => SafeTensor.FromFloats(ParameterPrefix + e.Name, e.Tensor.Shape.ToArray(), e.Tensor.Data))
            .Concat(state.Buffers.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => SafeTensor.FromFloats(OptimizerPrefix + kv.Key, [kv.Value.Length], kv.Value)))
            .ToList();
        var batches = new JsonObject();
        foreach (var (prefix, count) in batchNormStats?.BatchesTracked ?? new Dictionary<string, long>()) batches[prefix] = count;
        var meta = new JsonObject
        {
            ["epochs_done"] = epochsDone,
            ["optimizer_steps"] = state.Steps,
            ["batches_tracked"] = batches,
            ["config"] = configJson,
        };
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string> { [MetadataKey] = meta.ToJsonString() });
    }

    /// <summary>Removes the file once the run's result is saved.</summary>
    public void Delete()
    {
        if (File.Exists(path)) File.Delete(path);
    }

    private CheckpointException Invalid(string what) =>
        new(path, $"not a usable training state ({what}); delete it to start the run over.");
}
