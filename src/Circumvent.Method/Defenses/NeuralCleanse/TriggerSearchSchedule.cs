namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// What Neural Cleanse decides after every epoch of one class's trigger search, in the original's order
/// (Wang et al.'s visualizer, BackdoorBench's nc.py): (1) keep the trigger if it reaches the attack threshold with a
/// smaller mean mask L1 than any before; (2) early stop once that best L1 has not fallen below 0.99 of its earlier
/// best for <see cref="NeuralCleanseOptions.EarlyStopPatience"/> epochs, provided the cost has moved both up and
/// down; (3) after <see cref="NeuralCleanseOptions.Patience"/> epochs in a row at or above the threshold multiply the
/// cost by 2, after as many below divide it by 2^1.5.
/// The whole state is one float array, saved with the search's training state so a resumed search continues exactly.
/// </summary>
internal sealed class TriggerSearchSchedule(float[] state, NeuralCleanseOptions options)
{
    private const int CostAt = 0, UpCounterAt = 1, DownCounterAt = 2, UpFlagAt = 3, DownFlagAt = 4,
        EarlyStopCounterAt = 5, EarlyStopBestAt = 6, BestL1At = 7, StoppedAt = 8;
    public const int Length = 9;
    private const float EarlyStopFactor = 0.99f;
    private const float CostUp = 2f;
    private static readonly float CostDown = MathF.Pow(2f, 1.5f);

    /// <summary>The state before the first epoch: the initial cost, no trigger found yet.</summary>
    public static float[] Initial(double initCost)
    {
        var s = new float[Length];
        s[CostAt] = (float)initCost;
        s[EarlyStopBestAt] = float.PositiveInfinity;
        s[BestL1At] = float.PositiveInfinity;
        return s;
    }

    /// <summary>The current weight of the mask's L1 norm in the loss.</summary>
    public float Cost => state[CostAt];

    /// <summary>The smallest mean L1 of an epoch that reached the threshold; +∞ while none has.</summary>
    public float BestL1 => state[BestL1At];

    public bool Found => float.IsFinite(BestL1);

    /// <summary>The early stop fired; no further epoch runs.</summary>
    public bool Stopped => state[StoppedAt] != 0;

    /// <summary>Records one epoch; returns true when its (end-of-epoch) trigger is the new best and should be kept.</summary>
    /// <param name="attackAccuracy">Share (0–1) of the epoch's stamped images the model sent to the class.</param>
    /// <param name="meanL1">The mask's L1 norm averaged over the epoch's batches.</param>
    public bool EndEpoch(double attackAccuracy, double meanL1)
    {
        bool reached = attackAccuracy >= options.AttackSuccessThreshold;
        bool improved = reached && meanL1 < state[BestL1At];
        if (improved) state[BestL1At] = (float)meanL1;

        if (options.EarlyStop)
        {
            if (Found)
                state[EarlyStopCounterAt] = state[BestL1At] >= EarlyStopFactor * state[EarlyStopBestAt] ? state[EarlyStopCounterAt] + 1 : 0;
            state[EarlyStopBestAt] = MathF.Min(state[BestL1At], state[EarlyStopBestAt]);
            if (state[UpFlagAt] != 0 && state[DownFlagAt] != 0 && state[EarlyStopCounterAt] >= options.EarlyStopPatience)
            {
                state[StoppedAt] = 1;
                return improved;
            }
        }

        if (reached)
        {
            state[UpCounterAt]++;
            state[DownCounterAt] = 0;
        }
        else
        {
            state[UpCounterAt] = 0;
            state[DownCounterAt]++;
        }
        if (state[UpCounterAt] >= options.Patience)
        {
            state[UpCounterAt] = 0;
            state[CostAt] *= CostUp;
            state[UpFlagAt] = 1;
        }
        else if (state[DownCounterAt] >= options.Patience)
        {
            state[DownCounterAt] = 0;
            state[CostAt] /= CostDown;
            state[DownFlagAt] = 1;
        }
        return improved;
    }
}
