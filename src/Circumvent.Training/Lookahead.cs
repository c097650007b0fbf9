using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// airbench's lookahead: an average w̄ of every parameter and buffer (BN running statistics included) that, every
/// <see cref="Every"/> steps s, moves towards the weights, w̄ ← ρ·w̄ + (1 − ρ)·w with ρ = d^Every·(s/T)³, and that
/// the weights then jump to (w ← w̄); after the run's last step T the weights take w̄ once more. Early in the run
/// ρ ≈ 0 (the average follows the weights); towards the end it approaches d^Every and the steps are averaged.
/// w̄ starts as a copy of the weights when the hook is made (after any data-dependent initialisation).
/// </summary>
public sealed class Lookahead : ITrainingHook
{
    public const string StateName = "lookahead";

    /// <summary>airbench's decay base.</summary>
    public const double DefaultDecay = 0.95;

    private readonly ParameterSet _weights;

    public Lookahead(ParameterSet weights, int every, double decay)
    {
        if (every < 1) throw new ArgumentOutOfRangeException(nameof(every), every, "Lookahead needs an interval of at least one step.");
        if (!(decay >= 0 && decay <= 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "Lookahead's decay must lie in [0, 1].");
        _weights = weights;
        Every = every;
        Decay = decay;
        Average = weights.Clone();
    }

    public int Every { get; }
    public double Decay { get; }

    /// <summary>w̄, by the weights' names.</summary>
    public ParameterSet Average { get; }

    public TrainingStatePart StatePart => new(StateName, Average, null, null);

    /// <summary>ρ after <paramref name="stepsDone"/> of <paramref name="totalSteps"/> steps.</summary>
    public double Rho(int stepsDone, int totalSteps) => Math.Pow(Decay, Every) * Math.Pow((double)stepsDone / totalSteps, 3);

    public void AfterStep(int stepsDone, int totalSteps)
    {
        if (stepsDone % Every == 0) Update((float)(1 - Rho(stepsDone, totalSteps)));
        if (stepsDone == totalSteps) Update(0f);
    }

    /// <summary>w̄ ← w̄ + t·(w − w̄) (torch.lerp), then w ← w̄, over every float tensor.</summary>
    private void Update(float t)
    {
        foreach (var entry in Average)
        {
            var average = entry.Tensor.Span;
            var weight = _weights[entry.Name].Span;
            for (int i = 0; i < average.Length; i++)
            {
                average[i] += t * (weight[i] - average[i]);
                weight[i] = average[i];
            }
        }
    }
}
