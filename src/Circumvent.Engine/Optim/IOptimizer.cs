namespace Circumvent.Engine.Optim;

/// <summary>
/// Updates a fixed list of parameter tensors in place from their <see cref="Tensor.Grad"/>.
/// Parameters whose gradient is null (not reached by the last backward) are left untouched,
/// as PyTorch does for <c>p.grad is None</c>.
/// </summary>
public interface IOptimizer
{
    /// <summary>The learning rate the next <see cref="Step"/> uses; schedules set it before each step.</summary>
    double LearningRate { get; set; }

    void Step();

    /// <summary>Clears every parameter's gradient (keeps the buffers for reuse).</summary>
    void ZeroGrad();

    /// <summary>A copy of the step count and per-parameter buffers (see <see cref="OptimizerState"/>).</summary>
    OptimizerState ExportState();

    /// <summary>Continues from <paramref name="state"/> (from <see cref="ExportState"/> of an optimiser over the same parameters).</summary>
    void ImportState(OptimizerState state);
}
