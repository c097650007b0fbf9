using Circumvent.Data.Loading;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Curves;

/// <summary>
/// The per-epoch bookkeeping that makes curve fitting and fine-tuning resumable: restore what an
/// earlier call finished, save after every epoch (written as <see cref="ProgressSaving"/> allows, and
/// always when the loop ends: <see cref="Ended"/>), and give each epoch a forward context whose dropout
/// stream depends on (seed, epoch) only — dropout draws a varying count per batch, so a stream that
/// ran on from an earlier epoch could not be replayed by a resumed call.
/// </summary>
internal sealed class ResumableEpochs
{
    private readonly ITrainingState? _state;
    private readonly IOptimizer _optimizer;
    private readonly Func<Random, ForwardContext> _contextWith;
    private readonly int _seed;

    /// <param name="state">Where progress is kept (null = nothing to restore or save).</param>
    /// <param name="contextWith">The training-mode context for a dropout stream (BN statistics as the loop needs them).</param>
    public ResumableEpochs(ITrainingState? state, IOptimizer optimizer, int epochs, int seed, Func<Random, ForwardContext> contextWith)
    {
        _state = state;
        _optimizer = optimizer;
        _contextWith = contextWith;
        _seed = seed;
        Done = Math.Min(state?.Restore(optimizer) ?? 0, epochs);
        Context = ContextFor(Done);
    }

    /// <summary>Epochs an earlier call finished (0 on a fresh start).</summary>
    public int Done { get; }

    /// <summary>The context for the epoch in progress.</summary>
    public ForwardContext Context { get; private set; }

    /// <summary>For <see cref="StepLoop.Run"/>'s epochFinished: save, then switch to the next epoch's stream.</summary>
    public void Finished(int epochsDone)
    {
        _state?.Save(epochsDone, _optimizer);
        Context = ContextFor(epochsDone);
    }

    /// <summary>For <see cref="StepLoop.Run"/>'s ended: write the progress kept in memory (the unit finished, or was stopped).</summary>
    public void Ended() => _state?.Flush();

    // Stream -3 with the epoch as batch index: one the loader never uses, so dropout is independent of crops and order.
    private ForwardContext ContextFor(int epoch) => _contextWith(new Random(BatchLoader.MixSeed(_seed, epoch, -3)));
}
