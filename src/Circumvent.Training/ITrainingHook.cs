using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// Something the <see cref="TrainingLoop"/> runs beside the optimiser, configured as data (<see cref="TrainingConfig"/>)
/// rather than as a special case of the loop: which tensors train in an epoch (<see cref="FreezeSchedule"/>), an
/// average of the weights taken after steps (<see cref="Lookahead"/>). A hook with state of its own offers it as a
/// <see cref="StatePart"/>, saved with the run, so a resumed run continues it exactly.
/// </summary>
public interface ITrainingHook
{
    /// <summary>Before each epoch's first step (a resumed run starts at a later epoch: derive everything from it).</summary>
    void BeginEpoch(int epoch) { }

    /// <summary>After the optimiser's step, with the steps done so far (1 after the first) and the run's total.</summary>
    void AfterStep(int stepsDone, int totalSteps) { }

    /// <summary>Tensors the hook keeps across steps, saved with the run's state; null when it keeps none.</summary>
    TrainingStatePart? StatePart => null;
}

/// <summary>
/// --freeze: before each epoch, the tensors a rule freezes in it stop requiring gradients and lose their gradient
/// buffer, so SGD leaves them exactly as they are (no momentum, no weight decay: PyTorch's requires_grad = False
/// with zero_grad(set_to_none=True)); every other trained tensor requires gradients.
/// </summary>
public sealed class FreezeSchedule : ITrainingHook
{
    private readonly NamedTensor[] _trained;
    private readonly FreezeRule[] _rules;

    /// <param name="trained">The tensors the optimiser updates.</param>
    public FreezeSchedule(IEnumerable<NamedTensor> trained, IReadOnlyList<string> rules)
    {
        _trained = trained.ToArray();
        _rules = rules.Select(FreezeRule.Parse).ToArray();
        var names = _trained.Select(t => t.Name).ToArray();
        foreach (var rule in _rules) rule.Pattern.RequireMatch("--freeze", names);
    }

    public bool IsFrozen(string name, int epoch) => _rules.Any(r => r.FrozenIn(name, epoch));

    public void BeginEpoch(int epoch)
    {
        foreach (var t in _trained)
        {
            bool frozen = IsFrozen(t.Name, epoch);
            t.Tensor.RequiresGrad = !frozen;
            if (frozen) t.Tensor.ReleaseGrad();
        }
    }
}
