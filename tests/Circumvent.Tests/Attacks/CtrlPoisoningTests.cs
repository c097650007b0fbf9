using Circumvent.Data;
using Circumvent.Attacks;

namespace Circumvent.Tests.Attacks;

/// <summary>CTRL's poisoning: the first ⌊rate·N⌋ target-class images in dataset order get the trigger, nothing else changes.</summary>
public class CtrlPoisoningTests
{
    private static ImageDataset Images()
    {
        var pixels = new byte[40 * 3 * 32 * 32];
        new Random(2).NextBytes(pixels);
        return new ImageDataset(pixels, Enumerable.Range(0, 40).Select(i => i % 4).ToArray(), 3, 32, 32, ["a", "b", "c", "d"]);
    }

    [Fact]
    public void FirstTargetImagesInOrderAreTriggeredAndNothingElse()
    {
        var train = Images();
        var poisoning = new CtrlPoisoning(new CtrlTrigger(), Target: 2, Rate: 0.1);
        var poisoned = poisoning.Poison(train, out var chosen);
        Assert.Equal([2, 6, 10, 14], chosen); // ⌊0.1·40⌋ = 4 images of class 2, first in order
        for (int i = 0; i < train.Count; i++)
        {
            bool same = poisoned.Image(i).SequenceEqual(train.Image(i));
            Assert.Equal(!chosen.Contains(i), same);
        }
        Assert.Equal(train.Labels, poisoned.Labels);
        var expected = train.Image(6).ToArray();
        new CtrlTrigger().ApplyTrigger(expected, 3, 32, 32);
        Assert.Equal(expected, poisoned.Image(6).ToArray());

        var query = poisoning.TriggeredNonTarget(train);
        Assert.Equal(30, query.Count);
        Assert.DoesNotContain(2, query.Labels);
        Assert.Contains("\"poisoned\":4", poisoning.ToJson(4));
    }

    [Theory]
    [InlineData(2, 0.0, "--poison-rate must lie in (0, 1)")]
    [InlineData(4, 0.1, "--target must be a class of the data (0–3)")]
    public void BadSettingsAreRefused(int target, double rate, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => new CtrlPoisoning(new CtrlTrigger(), target, rate).Poison(Images(), out _));
        Assert.Contains(message, error.Message);
    }
}
