using SkiaSharp;

namespace Circumvent.Tests.Data;

/// <summary>
/// A user's image folder made in the test: ROOT/train/CLASS/*.png|jpg and ROOT/test/CLASS/…, written with SkiaSharp.
/// Class k is a bright square at its own place on a dark noisy background, so a tiny network separates the classes.
/// Files alternate PNG and JPEG (JPEG at quality 95), as a user's folder might.
/// </summary>
public static class SyntheticImageFolder
{
    public static string Write(string root, string[] classes, int trainPerClass, int testPerClass, int size = 16, int seed = 3)
    {
        var rng = new Random(seed);
        foreach (var (split, count) in new[] { ("train", trainPerClass), ("test", testPerClass) })
            for (int k = 0; k < classes.Length; k++)
            {
                string folder = Directory.CreateDirectory(Path.Combine(root, split, classes[k])).FullName;
                for (int i = 0; i < count; i++)
                {
                    bool png = i % 2 == 0;
                    EncodedImages.Write(Path.Combine(folder, $"{i:D3}.{(png ? "png" : "jpg")}"), 3, size, size, Pixels(k, classes.Length, size, rng),
                        png ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, quality: 95);
                }
            }
        return root;
    }

    /// <summary>One 3×size×size image of class <paramref name="label"/> of <paramref name="classes"/> (CHW bytes).</summary>
    public static byte[] Pixels(int label, int classes, int size, Random rng)
    {
        int plane = size * size, side = size / 2;
        var pixels = new byte[3 * plane];
        for (int p = 0; p < pixels.Length; p++) pixels[p] = (byte)rng.Next(0, 50);
        // Squares sit left to right, one per class, each in its own colour channel mix.
        int left = label * (size - side) / Math.Max(1, classes - 1), top = size / 4;
        for (int c = 0; c < 3; c++)
            for (int y = top; y < top + side; y++)
                for (int x = left; x < left + side; x++)
                    pixels[c * plane + y * size + x] = (byte)(c == label % 3 ? 250 : 160);
        return pixels;
    }
}
