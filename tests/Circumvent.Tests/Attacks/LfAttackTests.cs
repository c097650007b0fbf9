using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Attacks;

public class LfAttackTests
{
    private static IAttack Lf(string pattern, int target = 0) =>
        AttackFactory.Create(new AttackDefinition { Kind = "lf", Target = target, TriggerImage = pattern });

    /// <summary>Writes an (H, W, C) uint8 pattern whose value at (y, x, c) is <paramref name="value"/>(y, x, c).</summary>
    private static string WritePattern(int height, int width, int channels, Func<int, int, int, byte> value)
    {
        var path = AttackTestImages.TempFile("lf.npy");
        var hwc = new byte[height * width * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    hwc[(y * width + x) * channels + c] = value(y, x, c);
        Npy.Write(path, [height, width, channels], hwc);
        return path;
    }

    [Fact]
    public void AddsTheHwcPatternChannelByChannelAndLeavesZeroPixelsAlone()
    {
        // Non-zero only on row 1, with a different value per channel: (y=1, x, c) → 10·(c+1) + x.
        var pattern = WritePattern(4, 5, 3, (y, x, c) => y == 1 ? (byte)(10 * (c + 1) + x) : (byte)0);
        var before = AttackTestImages.Random(3 * 4 * 5, 2, 0, 180);
        var after = (byte[])before.Clone();
        Lf(pattern).ApplyTrigger(after, 3, 4, 5);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 5; x++)
                {
                    int i = (c * 4 + y) * 5 + x;
                    int expected = y == 1 ? before[i] + 10 * (c + 1) + x : before[i];
                    Assert.True(expected == after[i], $"pixel (c{c}, y{y}, x{x}): expected {expected}, got {after[i]}");
                }
    }

    [Fact]
    public void SumsAreClippedAt255()
    {
        var pattern = WritePattern(2, 2, 1, (_, _, _) => 51);
        var image = new byte[] { 0, 100, 204, 250 };
        Lf(pattern).ApplyTrigger(image, 1, 2, 2);
        Assert.Equal(new byte[] { 51, 151, 255, 255 }, image);
    }

    [Fact]
    public void PatternIsResizedToAnotherInputSize()
    {
        var pattern = WritePattern(4, 4, 3, (_, _, c) => (byte)(5 * (c + 1))); // constant per channel: resizing keeps it
        var image = new byte[3 * 8 * 8];
        Lf(pattern).ApplyTrigger(image, 3, 8, 8);
        for (int c = 0; c < 3; c++)
            Assert.All(image.Skip(c * 64).Take(64), v => Assert.Equal(5 * (c + 1), v));
    }

    [Theory]
    [InlineData(new[] { 8, 8 })]
    [InlineData(new[] { 3, 8, 8 })]
    [InlineData(new[] { 8, 8, 4 })]
    [InlineData(new[] { 1, 8, 8, 3 })]
    public void PatternOfTheWrongShapeIsRejectedByName(int[] shape)
    {
        var path = AttackTestImages.TempFile("bad-lf.npy");
        Npy.Write(path, shape, new byte[shape.Aggregate(1, (a, b) => a * b)]);
        var error = Assert.Throws<DataFormatException>(() => Lf(path));
        Assert.Contains("bad-lf.npy", error.Message);
        Assert.Contains("(H, W, C)", error.Message);
        Assert.Contains($"({string.Join(", ", shape)})", error.Message);
    }

    [Fact]
    public void MissingPatternIsRequired()
    {
        var error = Assert.Throws<ArgumentException>(() => AttackFactory.Create(new AttackDefinition { Kind = "lf" }));
        Assert.Contains("--trigger-image", error.Message);
    }

    [SkippableFact]
    public void PublishedCifar10PatternLoads()
    {
        string? shared = TestData.SharedDataDir();
        string? path = shared is null ? null : Path.Combine(shared, "triggers", "lf_cifar10_preactresnet18.npy");
        if (path is null || !File.Exists(path))
        {
            throw new SkipException($"LF pattern not found (looked for shared/data/triggers/lf_cifar10_preactresnet18.npy above {AppContext.BaseDirectory}).");
        }
        var attack = (LfAttack)Lf(path);
        var pattern = attack.PatternFor(3, 32, 32);
        Assert.Equal(3 * 32 * 32, pattern.Length);
        Assert.InRange(pattern.Min(), 0, 255);
        Assert.True(pattern.Max() > 0, "the published pattern is not all zeros");
        var image = new byte[3 * 32 * 32];
        attack.ApplyTrigger(image, 3, 32, 32);
        Assert.Equal(pattern.Select(v => (byte)Math.Round(v)), image); // on a black image the output is the pattern
    }
}
