namespace Circumvent.Engine;

/// <summary>
/// Per-channel statistics of one batch as seen by a training-mode batch norm: the mean and the
/// unbiased variance over Count = N·H·W values per channel. Models hand these to whoever
/// maintains running statistics (momentum update, or TSC's exact re-estimation) instead of
/// mutating buffers inside forward.
/// </summary>
public sealed record BatchStatistics(float[] Mean, float[] UnbiasedVar, int Count);
