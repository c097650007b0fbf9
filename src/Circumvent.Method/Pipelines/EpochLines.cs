using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// The one-line-per-epoch log of a training without a live display (the experiment runner, scripts):
/// "epoch e/E loss L{middle} … img/s ETA MmSSs", shared by every command that trains.
/// </summary>
internal static class EpochLines
{
    /// <summary>"{rate} img/s ETA {m}m{ss}s": the tail of every epoch line.</summary>
    public static string RateAndEta(TrainingProgress p) =>
        $"{p.ImagesPerSecond:F0} img/s ETA {(int)p.EstimatedRemaining.TotalMinutes}m{p.EstimatedRemaining.Seconds:D2}s";

    /// <summary>Logs "epoch e/E loss L{middle(p)} lr η rate ETA" at the end of every epoch of <paramref name="trainer"/>.</summary>
    public static void Attach(Trainer trainer, Action<string> log, Func<TrainingProgress, string>? middle = null) =>
        trainer.Progress += p =>
        {
            if (p.IsEpochEnd)
                log($"epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4}{middle?.Invoke(p)} lr {p.LearningRate:g3} {RateAndEta(p)}");
        };
}
