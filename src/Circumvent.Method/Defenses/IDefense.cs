using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Method.Curves;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses;

/// <summary>A backdoor defence: takes a (possibly) backdoored model and clean data, returns a repaired model.</summary>
public interface IDefense
{
    /// <summary>Short name used on the command line and in reports: tsc, mcr, ft, none, nc, anp, ft-sam.</summary>
    string Name { get; }

    /// <summary>The defence's settings as JSON (snake_case keys); part of a run folder's identity.</summary>
    JsonObject DescribeOptions();

    DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null);
}

/// <summary>Everything a defence works with. The input parameters are never modified.</summary>
public sealed record DefenseInput
{
    public required IArchitecture Architecture { get; init; }

    /// <summary>θ, the model to repair.</summary>
    public required ParameterSet Parameters { get; init; }

    /// <summary>D, the defender's small clean set (e.g. 5% of the training set).</summary>
    public required ImageDataset Clean { get; init; }

    public required Normalization Normalization { get; init; }

    /// <summary>What augmenting D means for this data (the dataset's recipe); null = random crop (H/8) + flip.</summary>
    public Circumvent.Data.Loading.Augmentation? Augmentation { get; init; }

    /// <summary>
    /// Two views per image with this augmentation for a contrastive <see cref="Objective"/> (SimCLR): curves, fine-tuning,
    /// BN re-estimation (one view) and matching (one view, when augmented) use it instead of <see cref="Augmentation"/>; null: one view.
    /// </summary>
    public Circumvent.Data.Loading.ContrastiveAugmentation? ViewAugmentation { get; init; }

    /// <summary>The loss curves and fine-tuning minimise (supervised cross-entropy for classifiers; NT-Xent for encoders).</summary>
    public required ITrainingObjective Objective { get; init; }

    /// <summary>Every random choice of the defence (permutations, t draws, shuffles) derives from this.</summary>
    public int Seed { get; init; }

    /// <summary>Scores a weight set (ACC/ASR/RA on the test set) for reporting; null = no evaluation.</summary>
    public Func<ParameterSet, BackdoorScores>? Evaluate { get; init; }

    /// <summary>
    /// Folder where every finished unit (curve, curve point, fine-tune) is saved so a rerun resumes;
    /// null = keep everything in memory.
    /// </summary>
    public string? RunFolder { get; init; }

    /// <summary>What the caller wants a resumed run to match besides the defence options (model file, data, subset).</summary>
    public JsonObject? RunIdentity { get; init; }

    /// <summary>Checked between units and during training; cancelling keeps the finished epochs of the unit in progress.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>How often units write their progress to the run folder; counts the bytes of those writes and of the units' results.</summary>
    public ProgressSaving Saving { get; init; } = ProgressSaving.FromEnvironment();
}

/// <summary>What a defence returns.</summary>
/// <param name="Purified">The repaired weights (a new parameter set).</param>
/// <param name="Before">Scores of the input model, when an evaluator was given.</param>
/// <param name="After">Scores of <paramref name="Purified"/>, when an evaluator was given.</param>
/// <param name="Stages">Scores after every stage, in order (empty without an evaluator).</param>
/// <param name="Curves">The curves trained, as stored in the run folder (empty without one).</param>
/// <param name="Elapsed">Wall time of this call.</param>
/// <param name="ComputeSeconds">Time spent on all finished units, including the parts done by earlier (interrupted) calls.</param>
/// <param name="UnitsRun">Units computed by this call.</param>
/// <param name="UnitsResumed">Units restored from the run folder.</param>
/// <param name="Findings">What the defence found besides its scores, by name (e.g. "neural_cleanse": anomaly indices and
/// flagged classes); empty for defences that report nothing more.</param>
public sealed record DefenseResult(
    ParameterSet Purified,
    BackdoorScores? Before,
    BackdoorScores? After,
    IReadOnlyList<StageEvaluation> Stages,
    IReadOnlyList<StoredCurve> Curves,
    JsonObject Config,
    TimeSpan Elapsed,
    double ComputeSeconds,
    int UnitsRun,
    int UnitsResumed,
    JsonObject? Findings = null);

/// <summary>Scores after one stage. Round is 1-based; Stage names the step within it ("stage 1", "stage 2", "fine-tune").</summary>
public sealed record StageEvaluation(int Round, string Stage, BackdoorScores Scores)
{
    public string Label => $"round {Round} · {Stage}";
}

/// <summary>A curve saved in a run folder (see <see cref="CurveFile"/>).</summary>
public sealed record StoredCurve(int Round, string Stage, string Path);

/// <summary>One resumable piece of work: its result is saved before the next one starts.</summary>
public sealed record DefenseUnit(int Round, string Name, UnitKind Kind)
{
    /// <summary>Identifier and file stem in the run folder, e.g. "round2.stage1-curve".</summary>
    public string Id => Round > 0 ? $"round{Round}.{Name}" : Name;
}

/// <summary>What a unit computes; <see cref="Tensors"/>: named tensors that are not a model (a reversed trigger, neuron masks).</summary>
public enum UnitKind { Curve, Point, FineTune, Tensors }

/// <summary>
/// Watches a defence run. All methods are called on the defence's thread; default implementations do nothing.
/// Throwing from a callback stops the run (units already finished stay saved).
/// </summary>
public interface IDefenseObserver
{
    /// <summary>A unit is about to be computed (not called for units restored from the run folder).</summary>
    void UnitStarted(DefenseUnit unit) { }

    /// <summary>A unit's result is saved (or was restored: <paramref name="resumed"/>).</summary>
    void UnitFinished(DefenseUnit unit, bool resumed) { }

    /// <summary>The input model was scored (or the score restored).</summary>
    void EvaluatedBefore(BackdoorScores scores) { }

    void Evaluated(StageEvaluation evaluation) { }

    /// <summary>Training progress inside a unit, e.g. "epoch 12/200 loss 0.31" (every step).</summary>
    void Progress(DefenseUnit unit, string detail) { }

    /// <summary>
    /// An epoch of a unit's training ended: <paramref name="detail"/> as <see cref="Progress"/> gives it, for
    /// observers that keep one line per epoch (a log file) rather than redrawing a bar per step.
    /// </summary>
    void EpochFinished(DefenseUnit unit, int epoch, int epochs, string detail) { }
}
