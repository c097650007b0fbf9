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

    /// <summary>Steps taken so far.</summary>
    protected long Steps { get; set; }

    /// <summary>The per-parameter buffer arrays by name ("momentum", "exp_avg", ...), for state export and import.</summary>
    protected abstract IEnumerable<(string Name, float[]?[] Slots)> StateSlots { get; }

    public OptimizerState ExportState()
    {
        var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, slots) in StateSlots)
            for (int i = 0; i < slots.Length; i++)
                if (slots[i] is { } buffer) buffers[$"{name}.{i}"] = (float[])buffer.Clone();
        return new OptimizerState(Steps, buffers);
    }

    public void ImportState(OptimizerState state)
    {
        if (state.Steps < 0) throw new ArgumentException($"Optimiser state: step count {state.Steps} is negative.");
        var slotsByKey = new Dictionary<string, (float[]?[] Slots, int Index)>(StringComparer.Ordinal);
        foreach (var (name, slots) in StateSlots)
            for (int i = 0; i < slots.Length; i++) slotsByKey[$"{name}.{i}"] = (slots, i);
        // Everything is checked before anything changes, so a refused state leaves the optimiser as it was.
        foreach (var (key, buffer) in state.Buffers)
        {
            if (!slotsByKey.TryGetValue(key, out var slot))
                throw new ArgumentException($"Optimiser state: '{key}' belongs to no parameter of this {GetType().Name} ({Parameters.Length} parameters).");
            if (buffer.Length != Parameters[slot.Index].Length)
                throw new ArgumentException($"Optimiser state: '{key}' has {buffer.Length} values, parameter {slot.Index} has {Parameters[slot.Index].Length}.");
        }
        foreach (var (key, (slots, i)) in slotsByKey)
            slots[i] = state.Buffers.TryGetValue(key, out var buffer) ? (float[])buffer.Clone() : null;
        Steps = state.Steps;
    }

    /// <summary>A zeroed state buffer the size of parameter <paramref name="index"/>, allocated on first use.</summary>
    protected static float[] StateFor(float[]?[] slots, int index, int length) => slots[index] ??= new float[length];

    protected static void CheckNonNegative(double value, string name)
    {
        if (value < 0 || !double.IsFinite(value))
            throw new ArgumentException($"{name} must be a finite value ≥ 0, got {value}.");
    }
}
