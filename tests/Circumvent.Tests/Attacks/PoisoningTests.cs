using Circumvent.Attacks;
using Circumvent.Data;

namespace Circumvent.Tests.Attacks;

public class PoisoningTests
{
    /// <summary>100 random 1×6×6 images, label i % 10, pixels below 200 so the white patch is recognisable.</summary>
    private static ImageDataset Dataset(int count = 100)
    {
        var rng = new Random(21);
        var pixels = new byte[count * 36];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)rng.Next(0, 200);
        var labels = Enumerable.Range(0, count).Select(i => i % 10).ToArray();
        return new ImageDataset(pixels, labels, 1, 6, 6, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray());
    }

    private static IAttack BadNet(int target) => AttackFactory.Create(new AttackDefinition { Kind = "badnet", Target = target });

    private static bool HasPatch(ImageDataset d, int i)
    {
        var image = d.Image(i);
        for (int y = 3; y < 6; y++)
            for (int x = 3; x < 6; x++)
                if (image[y * 6 + x] != 255) return false;
        return true;
    }

    [Fact]
    public void PoisonsRoundedRateOfNonTargetSamplesAndRelabelsThem()
    {
        var train = Dataset();
        var originalPixels = (byte[])train.Pixels.Clone();
        var originalLabels = (int[])train.Labels.Clone();
        var (poisoned, indices) = Poisoning.PoisonTrainingSet(train, BadNet(target: 3), 0.1, seed: 5);

        Assert.Equal(10, indices.Length);
        Assert.Equal(indices.Order(), indices);
        Assert.Equal(indices.Length, indices.Distinct().Count());
        Assert.DoesNotContain(indices, i => originalLabels[i] == 3);
        var chosen = indices.ToHashSet();
        for (int i = 0; i < train.Count; i++)
        {
            if (chosen.Contains(i))
            {
                Assert.Equal(3, poisoned.Labels[i]);
                Assert.True(HasPatch(poisoned, i), $"poisoned image {i} lacks the trigger");
            }
            else
            {
                Assert.Equal(originalLabels[i], poisoned.Labels[i]);
                Assert.Equal(train.Image(i).ToArray(), poisoned.Image(i).ToArray());
            }
        }
        // The input dataset is untouched.
        Assert.Equal(originalPixels, train.Pixels);
        Assert.Equal(originalLabels, train.Labels);
    }

    [Fact]
    public void CountRoundsHalfAwayFromZero()
    {
        // 0.125 · 100 = 12.5 → 13.
        var (_, indices) = Poisoning.PoisonTrainingSet(Dataset(), BadNet(target: 0), 0.125, seed: 1);
        Assert.Equal(13, indices.Length);
    }

    [Fact]
    public void SameSeedSameSamplesOtherSeedOtherSamples()
    {
        var train = Dataset();
        var a = Poisoning.PoisonTrainingSet(train, BadNet(7), 0.2, seed: 11);
        var b = Poisoning.PoisonTrainingSet(train, BadNet(7), 0.2, seed: 11);
        var c = Poisoning.PoisonTrainingSet(train, BadNet(7), 0.2, seed: 12);
        Assert.Equal(a.PoisonedIndices, b.PoisonedIndices);
        Assert.Equal(a.Poisoned.Pixels, b.Poisoned.Pixels);
        Assert.Equal(a.Poisoned.Labels, b.Poisoned.Labels);
        Assert.NotEqual(a.PoisonedIndices, c.PoisonedIndices);
    }

    [Fact]
    public void ImpossibleRequestsAreRejected()
    {
        var train = Dataset();
        // Only 90 samples are outside class 0; 95 are asked for.
        var error = Assert.Throws<ArgumentException>(() => Poisoning.PoisonTrainingSet(train, BadNet(0), 0.95, seed: 0));
        Assert.Contains("90", error.Message);
        Assert.Throws<ArgumentException>(() => Poisoning.PoisonTrainingSet(train, BadNet(10), 0.1, seed: 0));
        Assert.Throws<ArgumentException>(() => Poisoning.PoisonTrainingSet(train, BadNet(1), 0, seed: 0));
        Assert.Throws<ArgumentException>(() => Poisoning.PoisonTrainingSet(train, BadNet(1), 1, seed: 0));
        Assert.Contains("rounds to 0", Assert.Throws<ArgumentException>(() => Poisoning.PoisonTrainingSet(train, BadNet(1), 0.004, seed: 0)).Message);
    }

    [Fact]
    public void TriggeredTestSetKeepsNonTargetImagesWithTrueLabels()
    {
        var test = Dataset(50);
        var triggered = Poisoning.TriggeredNonTarget(test, BadNet(target: 4));
        var expectedLabels = test.Labels.Where(l => l != 4).ToArray();
        Assert.Equal(45, triggered.Count);
        Assert.Equal(expectedLabels, triggered.Labels);
        for (int i = 0; i < triggered.Count; i++) Assert.True(HasPatch(triggered, i));
        Assert.DoesNotContain(Enumerable.Range(0, test.Count), i => HasPatch(test, i)); // source untouched
    }
}
