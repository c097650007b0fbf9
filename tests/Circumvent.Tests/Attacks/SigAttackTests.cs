using Circumvent.Attacks;

namespace Circumvent.Tests.Attacks;

public class SigAttackTests
{
    private static IAttack Sig(int target = 0, double delta = 40, double frequency = 6) =>
        AttackFactory.Create(new AttackDefinition { Kind = "sig", Target = target, SigDelta = delta, SigFrequency = frequency });

    [Fact]
    public void AddsTheColumnSinusoidToEveryChannelAndRow()
    {
        const int c = 3, h = 4, w = 32;
        var before = AttackTestImages.Random(c * h * w, 1, 60, 190); // far from 0 and 255: no clipping
        var after = (byte[])before.Clone();
        Sig().ApplyTrigger(after, c, h, w);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int i = (ch * h + y) * w + x;
                    double expected = Math.Round(before[i] + 40 * Math.Sin(2 * Math.PI * 6 * x / w), MidpointRounding.AwayFromZero);
                    Assert.True(expected == after[i], $"pixel (c{ch}, y{y}, x{x}): expected {expected}, got {after[i]}");
                }
        Assert.NotEqual(before, after);
    }

    [Fact]
    public void NonTrivialColumnsChangeAndClipAtBothEnds()
    {
        const int w = 32;
        var attack = Sig(frequency: 1);
        // Column 8 of 32 at f = 1: sin(π/2) = 1 → +40; column 24: −40; column 0: 0.
        var white = Enumerable.Repeat((byte)250, w).ToArray();
        attack.ApplyTrigger(white, 1, 1, w);
        Assert.Equal(255, white[8]);  // 250 + 40 clipped
        Assert.Equal(210, white[24]);
        Assert.Equal(250, white[0]);
        var dark = Enumerable.Repeat((byte)10, w).ToArray();
        attack.ApplyTrigger(dark, 1, 1, w);
        Assert.Equal(0, dark[24]);    // 10 − 40 clipped
        Assert.Equal(50, dark[8]);
        Assert.Equal(10, dark[16]);
    }

    [Fact]
    public void WrongImageSizeIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Sig().ApplyTrigger(new byte[10], 3, 2, 2));
        Assert.Contains("3×2×2", error.Message);
    }

    [Fact]
    public void PoisonsOnlyTargetClassImagesAndKeepsEveryLabel()
    {
        var train = AttackTestImages.Dataset(count: 200, width: 12);
        var result = Poisoning.Poison(train, Sig(target: 4, frequency: 1), rate: 0.05, seed: 3);
        Assert.Equal(10, result.PoisonedIndices.Length); // round(0.05 · 200), all from class 4 (20 samples)
        Assert.All(result.PoisonedIndices, i => Assert.Equal(4, train.Labels[i]));
        Assert.Equal(train.Labels, result.Data.Labels);
        Assert.Empty(result.NoiseIndices);
        for (int i = 0; i < train.Count; i++)
        {
            bool changed = !train.Image(i).SequenceEqual(result.Data.Image(i));
            Assert.Equal(result.PoisonedIndices.Contains(i), changed);
        }
        // Same seed → same draw; another seed → another one.
        Assert.Equal(result.PoisonedIndices, Poisoning.Poison(train, Sig(target: 4, frequency: 1), 0.05, 3).PoisonedIndices);
        Assert.NotEqual(result.PoisonedIndices, Poisoning.Poison(train, Sig(target: 4, frequency: 1), 0.05, 4).PoisonedIndices);
    }

    [Fact]
    public void CleanLabelRateBeyondTheTargetClassIsRejected()
    {
        var train = AttackTestImages.Dataset(count: 100);
        var error = Assert.Throws<ArgumentException>(() => Poisoning.Poison(train, Sig(target: 2), 0.2, 1));
        Assert.Contains("clean-label", error.Message);
        Assert.Contains("10 samples of target class 2", error.Message);
    }

    [Theory]
    [InlineData(0.0, 6.0, "--sig-delta")]
    [InlineData(300.0, 6.0, "--sig-delta")]
    [InlineData(40.0, 0.0, "--sig-frequency")]
    public void BadSettingsAreNamed(double delta, double frequency, string option)
    {
        var error = Assert.Throws<ArgumentException>(() => Sig(delta: delta, frequency: frequency));
        Assert.Contains(option, error.Message);
    }
}
