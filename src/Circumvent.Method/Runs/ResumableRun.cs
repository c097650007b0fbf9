using Circumvent.Method.Defenses;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Circumvent.Method.Curves;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Method.Runs;

/// <summary>
/// Runs a defence as a chain of units. A unit whose result is in the run folder is restored instead
/// of recomputed; a computed unit is saved (atomically) before the next one starts. Scores are cached
/// the same way, so a resumed run reports the numbers of its earlier part without re-evaluating.
/// Without a run folder everything stays in memory.
/// </summary>
internal sealed class ResumableRun
{
    private readonly DefenseInput _input;
    private readonly IDefenseObserver? _observer;
    private readonly RunFolder? _folder;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<StageEvaluation> _stages = [];
    private readonly List<StoredCurve> _curves = [];
    private double _memorySeconds;
    private int _unitsRun, _unitsResumed;

    private ResumableRun(DefenseInput input, JsonObject config, IDefenseObserver? observer)
    {
        _input = input;
        _observer = observer;
        Config = config;
        _folder = input.RunFolder is null ? null : RunFolder.Open(input.RunFolder, config);
    }

    public JsonObject Config { get; }

    /// <summary>The config's record of how curve points' BN statistics are computed (see <see cref="Curves.BatchNormReestimation"/>).</summary>
    public const string BnStatistics = "one pass over the clean data, augmented as the curve was trained";

    /// <summary>Opens (or resumes) the run of <paramref name="defense"/> on <paramref name="input"/>.</summary>
    public static ResumableRun Start(IDefense defense, DefenseInput input, IDefenseObserver? observer)
    {
        var config = new JsonObject
        {
            ["defense"] = defense.Name,
            ["options"] = defense.DescribeOptions(),
            ["seed"] = input.Seed,
            ["architecture"] = JsonNode.Parse(ArchitectureConfigJson.Serialize(input.Architecture.Config)),
            ["clean_images"] = input.Clean.Count,
            // How curve points get their BN statistics. Recorded so that a run folder written before
            // re-estimation saw the curve's augmentation (it had none) is refused, not silently mixed.
            ["bn_statistics"] = BnStatistics,
            ["input"] = input.RunIdentity?.DeepClone(),
        };
        return new ResumableRun(input, config, observer);
    }

    /// <summary>
    /// A unit whose result is a weight set (a curve point, a fine-tuned model). With a run folder,
    /// <paramref name="compute"/> gets a checkpoint for keeping its progress after every epoch
    /// ("UNIT.state", removed once the result is saved); a unit without epochs ignores it.
    /// </summary>
    public ParameterSet Weights(DefenseUnit unit, Func<EpochCheckpoint?, ParameterSet> compute)
    {
        string? path = _folder?.FileFor(unit, ".safetensors");
        if (path is not null && _folder!.IsFinished(unit) && File.Exists(path))
        {
            var restored = ModelCheckpoint.Load(path).Parameters;
            Resumed(unit);
            return restored;
        }
        var checkpoint = CheckpointFor(unit);
        return Compute(unit, () => compute(checkpoint), result =>
        {
            if (path is not null)
            {
                new ModelCheckpoint { Architecture = _input.Architecture.Config, Parameters = result, Network = NetworkToRecord(_input.Architecture) }.Save(path);
                _input.Saving.Count(path);
            }
            checkpoint?.Delete();
        });
    }

    /// <summary>
    /// A unit whose result is named tensors that are not a model (a reversed trigger, neuron masks), saved as a plain
    /// safetensors file "UNIT.safetensors" (no architecture check). <paramref name="compute"/> gets a checkpoint as for
    /// <see cref="Weights"/>.
    /// </summary>
    public ParameterSet Tensors(DefenseUnit unit, Func<EpochCheckpoint?, ParameterSet> compute)
    {
        string? path = _folder?.FileFor(unit, ".safetensors");
        if (path is not null && _folder!.IsFinished(unit) && File.Exists(path))
        {
            var restored = new ParameterSet();
            foreach (var t in CheckpointFiles.Read(path).Tensors)
                restored.Add(t.Name, Engine.Tensor.FromArray(t.Floats ?? throw new CheckpointException(path, $"'{t.Name}' is not a float tensor."), t.Shape), TensorRole.Parameter);
            Resumed(unit);
            return restored;
        }
        var checkpoint = CheckpointFor(unit);
        return Compute(unit, () => compute(checkpoint), result =>
        {
            if (path is not null)
            {
                CheckpointFiles.Write(path, [.. result.Select(e => SafeTensor.FromFloats(e.Name, e.Tensor.Shape.ToArray(), e.Tensor.ToArray()))],
                    new Dictionary<string, string>());
                _input.Saving.Count(path);
            }
            checkpoint?.Delete();
        });
    }

    /// <summary>
    /// A unit whose result is a trained curve; <paramref name="stage"/> labels it for `curve`. With a run folder,
    /// <paramref name="compute"/> gets a checkpoint as for <see cref="Weights"/>, so a stopped fit continues mid-curve.
    /// </summary>
    public BezierCurve Curve(DefenseUnit unit, string stage, Func<EpochCheckpoint?, BezierCurve> compute)
    {
        string? path = _folder?.FileFor(unit, CurveFile.Extension);
        BezierCurve curve;
        if (path is not null && _folder!.IsFinished(unit) && File.Exists(path))
        {
            curve = CurveFile.Load(path).Curve;
            Resumed(unit);
        }
        else
        {
            var checkpoint = CheckpointFor(unit);
            curve = Compute(unit, () => compute(checkpoint), result =>
            {
                if (path is not null)
                {
                    CurveFile.Save(path, _input.Architecture, result, unit.Round, stage);
                    _input.Saving.Count(path);
                }
                checkpoint?.Delete();
            });
        }
        if (path is not null) _curves.Add(new StoredCurve(unit.Round, stage, path));
        return curve;
    }

    /// <summary>Scores the input model (cached under "before"); null without an evaluator.</summary>
    public BackdoorScores? EvaluateBefore(ParameterSet parameters)
    {
        var scores = Score("before", parameters);
        if (scores is not null) _observer?.EvaluatedBefore(scores);
        return scores;
    }

    /// <summary>Scores one stage's weights (cached); null without an evaluator.</summary>
    public BackdoorScores? Evaluate(int round, string stage, ParameterSet parameters)
    {
        var scores = Score($"round{round}.{stage}", parameters);
        if (scores is null) return null;
        var evaluation = new StageEvaluation(round, stage, scores);
        _stages.Add(evaluation);
        _observer?.Evaluated(evaluation);
        return scores;
    }

    public DefenseResult Finish(ParameterSet purified, BackdoorScores? before, BackdoorScores? after) => new(
        purified, before, after, _stages.ToArray(), _curves.ToArray(), Config, _clock.Elapsed,
        _folder?.ComputeSeconds ?? _memorySeconds, _unitsRun, _unitsResumed, (JsonObject)(_folder?.Findings ?? _memoryFindings).DeepClone());

    private readonly JsonObject _memoryFindings = [];

    /// <summary>
    /// Keeps what the defence found that its scores do not show (Neural Cleanse's anomaly indices and flagged classes, ANP's
    /// threshold, a detected target class) under <paramref name="name"/>; with a run folder in its state.json, so a resumed
    /// run that restores the unit instead of recomputing it still reports it. <see cref="DefenseResult.Findings"/>.
    /// </summary>
    public void Record(string name, JsonNode value)
    {
        if (_folder is not null) _folder.SaveFinding(name, value);
        else _memoryFindings[name] = value.DeepClone();
    }

    private BackdoorScores? Score(string key, ParameterSet parameters)
    {
        if (_input.Evaluate is null) return null;
        if (_folder?.Scores(key) is { } cached) return cached;
        _input.Cancellation.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        var scores = _input.Evaluate(parameters);
        if (_folder is not null) _folder.SaveScores(key, scores, clock.Elapsed.TotalSeconds);
        else _memorySeconds += clock.Elapsed.TotalSeconds;
        return scores;
    }

    // The folder's config is the run's identity; the unit's id tells its units apart. Its recorded input content lets a
    // unit stopped midway resume after the inputs moved, as the folder does (RunFolder.Open); a unit stopped by a build
    // that recorded none saved its state under the config without it, which is accepted as the key's earlier form.
    private EpochCheckpoint? CheckpointFor(DefenseUnit unit)
    {
        if (_folder is null) return null;
        var content = Config["input"]?[InputContent.Field];
        return new EpochCheckpoint(_folder.FileFor(unit, ".state"), Config.ToJsonString() + " " + unit.Id, _input.Saving,
            content is null ? null : () => content.ToJsonString(),
            content is null ? null : RunFolder.WithoutContent(Config).ToJsonString() + " " + unit.Id);
    }

    private T Compute<T>(DefenseUnit unit, Func<T> compute, Action<T> save)
    {
        _input.Cancellation.ThrowIfCancellationRequested();
        _observer?.UnitStarted(unit);
        var clock = Stopwatch.StartNew();
        // With a run folder, the unit's seconds include those of calls stopped mid-unit ("UNIT.seconds").
        using var ledger = _folder is null ? null : new ComputeLedger(_folder.FileFor(unit, ".seconds"));
        var result = compute();
        save(result);
        if (_folder is not null)
        {
            _folder.MarkFinished(unit, ledger!.Stop());
            ledger.Delete();
        }
        else _memorySeconds += clock.Elapsed.TotalSeconds;
        _unitsRun++;
        _observer?.UnitFinished(unit, resumed: false);
        return result;
    }

    // An encoder's f.*/g.* tensors (or a CLIP image tower's visual.*) are not the built-in's state_dict, so its unit files record the network (and its role).
    private static IArchitecture? NetworkToRecord(IArchitecture architecture) => ModelCheckpoint.RoleMetadata(architecture).Any() ? architecture : null;

    private void Resumed(DefenseUnit unit)
    {
        _unitsResumed++;
        _observer?.UnitFinished(unit, resumed: true);
    }
}
