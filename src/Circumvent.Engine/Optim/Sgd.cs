using Circumvent.Engine.Diagnostics;

namespace Circumvent.Engine.Optim;

/// <summary>
/// torch.optim.SGD with dampening 0: g = grad + wd·p; buf = g on the first step, else
/// buf = μ·buf + g; the update direction is g + μ·buf (Nesterov) or buf; p -= lr·direction.
/// </summary>
public sealed class Sgd : OptimizerBase
{
    private readonly float[]?[] _momentumBuffers;

    public Sgd(IReadOnlyList<Tensor> parameters, double learningRate, double momentum = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, learningRate)
    {
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

    protected override IEnumerable<(string Name, float[]?[] Slots)> StateSlots => [("momentum", _momentumBuffers)];

    public override void Step()
    {
        using var profiled = OpProfiler.Region("sgd step");
        Steps++;
        float lr = (float)LearningRate, mu = (float)Momentum, wd = (float)WeightDecay;
        for (int i = 0; i < Parameters.Length; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null) continue;
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
