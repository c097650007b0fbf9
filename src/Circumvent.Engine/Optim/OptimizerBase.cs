namespace Circumvent.Engine.Optim;

/// <summary>Holds the parameter list and per-parameter state slots shared by the optimisers.</summary>
public abstract class OptimizerBase : IOptimizer
{
    protected OptimizerBase(IReadOnlyList<Tensor> parameters, double learningRate)
    {
        if (learningRate < 0 || !double.IsFinite(learningRate))
            throw new ArgumentException($"Learning rate must be a finite value ≥ 0, got {learningRate}.");
        Parameters = parameters.ToArray();
        LearningRate = learningRate;
    }

    protected Tensor[] Parameters { get; }

    public double LearningRate { get; set; }

    public abstract void Step();

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>A zeroed state buffer the size of parameter <paramref name="index"/>, allocated on first use.</summary>
    protected static float[] StateFor(float[]?[] slots, int index, int length) => slots[index] ??= new float[length];

    protected static void CheckNonNegative(double value, string name)
    {
        if (value < 0 || !double.IsFinite(value))
            throw new ArgumentException($"{name} must be a finite value ≥ 0, got {value}.");
    }
}
