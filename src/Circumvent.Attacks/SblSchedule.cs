using System.Globalization;
using System.Text.Json.Serialization;

namespace Circumvent.Attacks;

/// <summary>
/// SBL's training schedule (Pham et al., "Flatness-aware sequential learning generates resilient backdoors",
/// ECCV 2024; repo run_cifar.sh), stored in the attack definition as "sbl". The training set is split by seed
/// into a mixed part (the rest: poisoned at the attack's rate, of this part), a clean part of
/// <see cref="CleanShare"/> and a part of <see cref="DefenderShare"/> the attacker never sees (kept for a
/// defender's fine-tuning; the authors' --task_portion 0.05 0.1 0.85). Task 0 trains on the mixed part with
/// the training recipe and SAM of radius <see cref="Rho"/>; the diagonal Fisher is then taken on the mixed part;
/// task 1 continues on the clean part with cross-entropy + <see cref="EwcLambda"/>·Σ F(θ − θ*)², plain SGD
/// (no momentum, no weight decay, constant rate <see cref="CleanLearningRate"/>).
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)] // a misspelt knob in a plan is an error, not a default
public sealed record SblSchedule
{
    /// <summary>SAM's radius in task 0 (the authors' ρ = 0.05).</summary>
    public double Rho { get; init; } = 0.05;
    /// <summary>Share of the training set task 1 trains on (clean, disjoint from the rest).</summary>
    public double CleanShare { get; init; } = 0.05;
    /// <summary>Share held out from the attacker altogether (the defender's clean data).</summary>
    public double DefenderShare { get; init; } = 0.10;
    /// <summary>EWC's λ (the authors' 1).</summary>
    public double EwcLambda { get; init; } = 1;
    /// <summary>Task 1's constant SGD rate (the authors' 0.001).</summary>
    public double CleanLearningRate { get; init; } = 0.001;
    /// <summary>
    /// Task 1's epochs; null: two thirds of the training recipe's epochs, rounded up (the authors' 100 after 150,
    /// so 10 after the shared 15-epoch recipe).
    /// </summary>
    public int? CleanEpochs { get; init; }
    /// <summary>The Fisher over only the first this many mixed examples (null: all of them; SBL uses all).</summary>
    public int? FisherExamples { get; init; }

    /// <summary>Task 1's epochs after a task 0 of <paramref name="recipeEpochs"/>.</summary>
    public int CleanEpochsAfter(double recipeEpochs) => CleanEpochs ?? Math.Max(1, (int)Math.Ceiling(recipeEpochs * 2 / 3 - 1e-9));

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting (by its CLI option).</summary>
    public void Validate()
    {
        if (!(Rho > 0) || double.IsInfinity(Rho)) throw new ArgumentException($"--sbl-rho must be a positive number, got {F(Rho)}.");
        if (!(CleanShare > 0 && CleanShare < 1)) throw new ArgumentException($"--sbl-clean-share must be in (0, 1), got {F(CleanShare)}.");
        if (!(DefenderShare >= 0 && DefenderShare < 1)) throw new ArgumentException($"--sbl-defender-share must be in [0, 1), got {F(DefenderShare)}.");
        if (!(CleanShare + DefenderShare < 1))
            throw new ArgumentException($"--sbl-clean-share + --sbl-defender-share must leave a mixed part (sum < 1), got {F(CleanShare)} + {F(DefenderShare)}.");
        if (!(EwcLambda >= 0) || double.IsInfinity(EwcLambda)) throw new ArgumentException($"--sbl-ewc-lambda must be a finite value ≥ 0, got {F(EwcLambda)}.");
        if (!(CleanLearningRate > 0) || double.IsInfinity(CleanLearningRate)) throw new ArgumentException($"--sbl-clean-lr must be a positive number, got {F(CleanLearningRate)}.");
        if (CleanEpochs < 1) throw new ArgumentException($"--sbl-clean-epochs must be at least 1, got {CleanEpochs}.");
        if (FisherExamples < 1) throw new ArgumentException($"--sbl-fisher-examples must be at least 1, got {FisherExamples}.");
    }

    private static string F(double value) => value.ToString(CultureInfo.InvariantCulture);
}
