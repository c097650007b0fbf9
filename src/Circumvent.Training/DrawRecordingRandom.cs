namespace Circumvent.Training;

/// <summary>
/// A <see cref="Random"/> that passes every draw to <paramref name="inner"/> (the same numbers, in the same order) and
/// notes that one happened. The loop wraps an epoch's dropout stream in it: a stream that was drawn from runs on from
/// batch to batch, so a run stopped inside that epoch must resume at the epoch's start; one never drawn from (a network
/// without dropout) lets it resume at the next batch.
/// </summary>
internal sealed class DrawRecordingRandom(Random inner) : Random
{
    public bool Drew { get; private set; }

    private Random Draw()
    {
        Drew = true;
        return inner;
    }

    public override int Next() => Draw().Next();
    public override int Next(int maxValue) => Draw().Next(maxValue);
    public override int Next(int minValue, int maxValue) => Draw().Next(minValue, maxValue);
    public override long NextInt64() => Draw().NextInt64();
    public override long NextInt64(long maxValue) => Draw().NextInt64(maxValue);
    public override long NextInt64(long minValue, long maxValue) => Draw().NextInt64(minValue, maxValue);
    public override float NextSingle() => Draw().NextSingle();
    public override double NextDouble() => Draw().NextDouble();
    public override void NextBytes(byte[] buffer) => Draw().NextBytes(buffer);
    public override void NextBytes(Span<byte> buffer) => Draw().NextBytes(buffer);
    protected override double Sample() => Draw().NextDouble();
}
