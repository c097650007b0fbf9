using Circumvent.Method.Attacks;
using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Method.Defenses;
using Circumvent.Models.Described;
using Circumvent.Training;

namespace Circumvent.Experiments.Plans;

/// <summary>
/// An experiment grid: datasets × architectures × attacks × poisoning rates × seeds × defences, with
/// one training recipe for the backdoored models and one clean fraction for the defender.
/// Read by <see cref="PlanReader"/>; expanded into cells by <see cref="Grid"/>.
/// </summary>
public sealed record ExperimentPlan
{
    public required string Name { get; init; }
    /// <summary>The plan file's folder: relative paths in it were resolved against it, and cell keys write paths relative to it (<see cref="PortablePaths"/>).</summary>
    public string Folder { get; init; } = "";
    /// <summary>KIND:PATH dataset specs (relative paths already resolved against the plan's folder).</summary>
    public required IReadOnlyList<string> Datasets { get; init; }
    public required IReadOnlyList<ArchitectureChoice> Architectures { get; init; }
    public required IReadOnlyList<AttackChoice> Attacks { get; init; }
    public required IReadOnlyList<double> PoisonRates { get; init; }
    public required IReadOnlyList<DefenseChoice> Defenses { get; init; }
    public required IReadOnlyList<int> Seeds { get; init; }
    /// <summary>The backdoored models' recipe; architecture, data, width and seed are set per cell.</summary>
    public required TrainingConfig Training { get; init; }
    /// <summary>Share of every class of the training set the defender holds.</summary>
    public double CleanFraction { get; init; } = 0.05;
    /// <summary>Evenly spaced t per trained curve at which ACC/ASR are measured for the figures (0 = none).</summary>
    public int CurvePoints { get; init; } = 11;
    /// <summary>Run the retuning attack after every defence and report its ASR (P-ASR; "retune": true).</summary>
    public bool Retune { get; init; }
    /// <summary>
    /// Run the query-based reactivation attack after the retuning attack (which it implies) against every defended model and
    /// a clean model of the cell's recipe, trained once and cached like the backdoored ones ("qra": true).
    /// </summary>
    public bool Qra { get; init; }
    /// <summary>
    /// An encoder plan ("encoder"): the cells attack and purify a SimCLR encoder and score it on downstream datasets; then
    /// <see cref="Datasets"/> is the one pre-training set and the attacks are <see cref="EncoderAttack"/>s.
    /// </summary>
    public EncoderPlan? Encoder { get; init; }
}

/// <summary>
/// A built-in architecture by name with its width multiplier, or a network described in a file
/// (<paramref name="Description"/>; then <paramref name="Name"/> is the description's name and the width 1).
/// </summary>
public sealed record ArchitectureChoice(string Name, double Width, ModelDescription? Description = null)
{
    public string Label => Width == 1 ? Name : $"{Name}×{Width:0.####}";
}

/// <summary>
/// An attack as the plan gives it: AttackDefinition fields (snake_case JSON, kind included) without the
/// poisoning rate, which comes from the rates axis. Kept as JSON so attacks added to
/// <c>AttackDefinition</c> later work here unchanged. <paramref name="Adaptive"/>: the adaptive attack
/// against TSC runs on the model after training (its epochs and learning rate; the rest follow the recipe).
/// <paramref name="PoisonRates"/>: the attack's own rates, replacing the plan's <c>poison_rates</c> for it (null: the plan's).
/// <paramref name="Encoder"/>: in an encoder plan, the attack on the encoder (then <paramref name="Fields"/> is the entry as given,
/// without its defences). <paramref name="Defenses"/>: the attack's own defences, replacing the plan's <c>defenses</c> for it
/// (null: the plan's) — the authors run CTRL's encoders with other curve settings than BadEncoder's.
/// </summary>
public sealed record AttackChoice(string Label, JsonObject Fields, AdaptiveTscOptions? Adaptive = null, IReadOnlyList<double>? PoisonRates = null,
    EncoderAttack? Encoder = null, IReadOnlyList<DefenseChoice>? Defenses = null);

/// <summary>A defence by name with its settings; <see cref="Label"/> names its column (e.g. "tsc E=2").</summary>
public sealed record DefenseChoice(string Label, string Name, DefenseSettings Settings)
{
    public IDefense Create() => DefenseRegistry.Create(Name, Settings);
}
