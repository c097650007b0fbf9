using Circumvent.Data;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Attacks;

/// <summary>Small synthetic images and datasets for the trigger tests.</summary>
internal static class AttackTestImages
{
    public static byte[] Random(int size, int seed, int min = 0, int max = 256)
    {
        var rng = new Random(seed);
        var image = new byte[size];
        for (int i = 0; i < size; i++) image[i] = (byte)rng.Next(min, max);
        return image;
    }

    /// <summary><paramref name="count"/> random C×H×W images, label i % 10.</summary>
    public static ImageDataset Dataset(int count = 100, int channels = 1, int height = 6, int width = 6, int seed = 21)
    {
        var pixels = Random(count * channels * height * width, seed, 0, 200);
        var labels = Enumerable.Range(0, count).Select(i => i % 10).ToArray();
        return new ImageDataset(pixels, labels, channels, height, width, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray());
    }

    public static string TempFile(string name)
    {
        var dir = Scratch.NewFolder("attack-");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }
}
