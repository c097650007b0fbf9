using Circumvent.Engine.Diagnostics;

namespace Circumvent.Engine.Optim;

/// <summary>
/// torch.optim.SGD with dampening 0: g = grad + wd·p; buf = g on the first step, else
/// buf = μ·buf + g; the update direction is g + μ·buf (Nesterov) or buf; p -= lr·direction.
/// Parameter groups: parameter i may run at lr·sᵢ (<see cref="LearningRateScales"/>) with weight decay wd/sᵢ,
/// so that its decay per step, lr·wd, stays that of the others (airbench's BN-bias group).
/// </summary>
public sealed class Sgd : OptimizerBase
{
    private readonly float[]?[] _momentumBuffers;

    /// <param name="learningRateScales">One positive factor per parameter (null: 1 for all).</param>
    public Sgd(IReadOnlyList<Tensor> parameters, double learningRate, double momentum = 0, double weightDecay = 0, bool nesterov = false,
        IReadOnlyList<double>? learningRateScales = null)
        : base(parameters, learningRate)
    {
        if (learningRateScales is not null && learningRateScales.Count != parameters.Count)
            throw new ArgumentException($"SGD: {learningRateScales.Count} learning-rate scales for {parameters.Count} parameters.");
        if (learningRateScales is not null && learningRateScales.Any(s => !(s > 0 && double.IsFinite(s))))
            throw new ArgumentException($"SGD: learning-rate scales must be positive, got {string.Join(", ", learningRateScales)}.");
        LearningRateScales = learningRateScales?.ToArray() ?? Enumerable.Repeat(1.0, parameters.Count).ToArray();
        CheckNonNegative(momentum, "SGD momentum");
        CheckNonNegative(weightDecay, "SGD weight decay");
        if (nesterov && momentum == 0)
            throw new ArgumentException("Nesterov momentum needs momentum > 0.");
        Momentum = momentum;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        _momentumBuffers = new float[]?[Parameters.Length];
    }

    public double Momentum { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }
    public IReadOnlyList<double> LearningRateScales { get; }

    protected override IEnumerable<(string Name, float[]?[] Slots)> StateSlots => [("momentum", _momentumBuffers)];

    public override void Step()
    {
        using var profiled = OpProfiler.Region("sgd step");
        Steps++;
        float mu = (float)Momentum;
        for (int i = 0; i < Parameters.Length; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null) continue;
            // NOTE: with scale 1 both are exactly the ungrouped values, so ungrouped runs are unchanged bit for bit.
            float lr = (float)(LearningRate * LearningRateScales[i]), wd = (float)(WeightDecay / LearningRateScales[i]);
            var w = p.Span;
            var g = p.Grad.Span;
            if (mu == 0)
            {
                for (int j = 0; j < w.Length; j++) w[j] -= lr * (g[j] + wd * w[j]);
                continue;
            }
            // NOTE: PyTorch initialises the buffer with the first gradient itself (not (1-dampening)·g
            // on top of zeros), so the first step equals plain SGD.
            bool first = _momentumBuffers[i] is null;
            var buf = StateFor(_momentumBuffers, i, w.Length);
            for (int j = 0; j < w.Length; j++)
            {
                float d = g[j] + wd * w[j];
                float b = first ? d : mu * buf[j] + d;
                buf[j] = b;
                w[j] -= lr * (Nesterov ? d + mu * b : b);
            }
        }
    }
}
