namespace Circumvent.Engine.Optim;

/// <summary>
/// A learning rate as a pure function of the optimiser step t = 0, 1, … (the step about to run).
/// Epoch-based schedules are expressed in steps by the caller (epoch e starts at step e·stepsPerEpoch).
/// </summary>
public interface ILearningRateSchedule
{
    double At(int step);
}

/// <summary>The base rate at every step.</summary>
public sealed record ConstantSchedule(double BaseLearningRate) : ILearningRateSchedule
{
    public double At(int step) => BaseLearningRate;
}

/// <summary>
/// Cosine annealing over <see cref="TotalSteps"/>: lr_t = min + (base − min)(1 + cos(π·t/T))/2,
/// clamped to min past T. T must be the number of steps actually run, or the rate never reaches min.
/// With <see cref="ContinuePastEnd"/> the formula holds for every t, as PyTorch's CosineAnnealingLR(T_max = T) stepped
/// past T_max: the rate climbs back to base at 2T, and so on (BackdoorBench steps its T_max = 100 scheduler every batch
/// whatever the run's length: over 1,000 steps the rate cycles five times and ends near base).
/// </summary>
public sealed record CosineSchedule : ILearningRateSchedule
{
    public CosineSchedule(double baseLearningRate, int totalSteps, double minLearningRate = 0, bool continuePastEnd = false)
    {
        if (totalSteps <= 0) throw new ArgumentException($"Cosine schedule needs total steps > 0, got {totalSteps}.");
        BaseLearningRate = baseLearningRate;
        TotalSteps = totalSteps;
        MinLearningRate = minLearningRate;
        ContinuePastEnd = continuePastEnd;
    }

    public double BaseLearningRate { get; }
    public int TotalSteps { get; }
    public double MinLearningRate { get; }
    public bool ContinuePastEnd { get; }

    public double At(int step)
    {
        double t = ContinuePastEnd ? Math.Max(step, 0) : Math.Clamp(step, 0, TotalSteps);
        return MinLearningRate + (BaseLearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * t / TotalSteps)) / 2;
    }
}

/// <summary>
/// A schedule over epochs held for every step of each epoch: step t runs <see cref="PerEpoch"/>(⌊t / StepsPerEpoch⌋),
/// as PyTorch's scheduler.step() called once per epoch (build the inner schedule with one step per epoch).
/// </summary>
public sealed record EpochSteppedSchedule : ILearningRateSchedule
{
    public EpochSteppedSchedule(ILearningRateSchedule perEpoch, int stepsPerEpoch)
    {
        if (stepsPerEpoch <= 0) throw new ArgumentException($"An epoch must have at least one step, got {stepsPerEpoch}.");
        PerEpoch = perEpoch;
        StepsPerEpoch = stepsPerEpoch;
    }

    public ILearningRateSchedule PerEpoch { get; }
    public int StepsPerEpoch { get; }

    public double At(int step) => PerEpoch.At(Math.Max(step, 0) / StepsPerEpoch);
}

/// <summary>Step decay: base·γ^⌊t / StepSize⌋ (PyTorch StepLR; StepSize = k epochs · steps per epoch).</summary>
public sealed record StepDecaySchedule : ILearningRateSchedule
{
    public StepDecaySchedule(double baseLearningRate, int stepSize, double gamma)
    {
        if (stepSize <= 0) throw new ArgumentException($"Step decay needs a step size > 0, got {stepSize}.");
        if (gamma <= 0) throw new ArgumentException($"Step decay needs γ > 0, got {gamma}.");
        BaseLearningRate = baseLearningRate;
        StepSize = stepSize;
        Gamma = gamma;
    }

    public double BaseLearningRate { get; }
    public int StepSize { get; }
    public double Gamma { get; }

    public double At(int step) => BaseLearningRate * Math.Pow(Gamma, Math.Max(step, 0) / StepSize);
}

/// <summary>
/// Linear warm-up in front of another schedule: steps 0..W−1 rise as inner(0)·(t+1)/W, then step t
/// runs inner(t − W). Build the inner schedule over the steps left after warm-up.
/// </summary>
public sealed record WarmupSchedule : ILearningRateSchedule
{
    public WarmupSchedule(ILearningRateSchedule inner, int warmupSteps)
    {
        if (warmupSteps < 0) throw new ArgumentException($"Warm-up steps must be ≥ 0, got {warmupSteps}.");
        Inner = inner;
        WarmupSteps = warmupSteps;
    }

    public ILearningRateSchedule Inner { get; }
    public int WarmupSteps { get; }

    public double At(int step) => step < WarmupSteps
        ? Inner.At(0) * (step + 1) / WarmupSteps
        : Inner.At(step - WarmupSteps);
}

/// <summary>
/// torch.optim.lr_scheduler.MultiStepLR stepped per optimiser step: base·γ^k where k counts the
/// milestones (in steps) already reached.
/// </summary>
public sealed record MultiStepSchedule : ILearningRateSchedule
{
    private readonly int[] _milestones;

    public MultiStepSchedule(double baseLearningRate, IEnumerable<int> milestoneSteps, double gamma)
    {
        _milestones = [.. milestoneSteps.Order()];
        if (_milestones.Any(m => m < 0)) throw new ArgumentException($"Milestones must be ≥ 0, got {string.Join(", ", _milestones)}.");
        if (!(gamma > 0)) throw new ArgumentException($"Gamma must be positive, got {gamma}.");
        BaseLearningRate = baseLearningRate;
        Gamma = gamma;
    }

    public double BaseLearningRate { get; }
    public double Gamma { get; }
    public IReadOnlyList<int> Milestones => _milestones;

    public double At(int step) => BaseLearningRate * Math.Pow(Gamma, _milestones.Count(m => step >= m));
}

/// <summary>
/// airbench's triangle over a run of T steps: the factor rises linearly from <see cref="Start"/> at step 0
/// to 1 at step P = ⌊PeakAt·T⌋, then falls linearly to <see cref="End"/> at step T; the rate is base × factor.
/// </summary>
public sealed record TriangleSchedule : ILearningRateSchedule
{
    public TriangleSchedule(double baseLearningRate, int totalSteps, double start, double peakAt, double end)
    {
        if (totalSteps <= 0) throw new ArgumentException($"Triangle schedule needs total steps > 0, got {totalSteps}.");
        if (!(peakAt >= 0 && peakAt < 1)) throw new ArgumentException($"Triangle schedule: the peak must lie in [0, 1) of the run, got {peakAt}.");
        BaseLearningRate = baseLearningRate;
        TotalSteps = totalSteps;
        Start = start;
        PeakAt = peakAt;
        End = end;
        PeakStep = (int)(peakAt * totalSteps);
    }

    public double BaseLearningRate { get; }
    public int TotalSteps { get; }
    public double Start { get; }
    public double PeakAt { get; }
    public double End { get; }
    public int PeakStep { get; }

    public double At(int step)
    {
        double factor;
        if (step < PeakStep)
        {
            double rise = (double)Math.Max(step, 0) / PeakStep;
            factor = Start * (1 - rise) + rise;
        }
        else
        {
            double fall = Math.Min((double)(step - PeakStep) / (TotalSteps - PeakStep), 1);
            factor = 1 - fall + End * fall;
        }
        return BaseLearningRate * factor;
    }
}
