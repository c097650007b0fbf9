namespace Circumvent.Method.Evaluation;

/// <summary>
/// Percentages (0–100). Acc: clean test top-1. Asr: share of triggered non-target test images
/// classified as the target. Ra: share of those classified as their true label. AsrAll: share of ALL
/// triggered test images (target class included) classified as the target, as some other tools count
/// ASR. Asr/Ra/AsrAll are null when no attack is known (AsrAll also in scores stored before it existed).
/// For an encoder, Acc/Asr/Ra are its downstream probe's and Knn its kNN accuracy on the pre-training set
/// (<see cref="EncoderScores"/>); Knn is null for classifiers.
/// </summary>
public sealed record BackdoorScores(double Acc, double? Asr, double? Ra, double? AsrAll = null, double? Knn = null)
{
    public override string ToString() =>
        (Asr is null ? $"ACC {Acc:F2}%" : $"ACC {Acc:F2}%, ASR {Asr:F2}%, RA {Ra:F2}%") + (Knn is { } knn ? $", kNN {knn:F2}%" : "");
}
