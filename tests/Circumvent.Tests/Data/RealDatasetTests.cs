using Circumvent.Data;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Data;

/// <summary>
/// Reads the real datasets when they are installed. xunit 2 has no dynamic skip, so an absent
/// dataset makes the test return early and say so in its output.
/// </summary>
public class RealDatasetTests
{
    [SkippableFact]
    public void FashionMnistTestSet()
    {
        string folder = DatasetSpec.FashionMnistSystemPath;
        if (!File.Exists(Path.Combine(folder, "t10k-images-idx3-ubyte.gz")))
        {
            throw new SkipException($"Fashion-MNIST not installed at {folder}.");
        }
        var pair = KnownDatasets.FashionMnist.Load(folder);
        var test = pair.Test;
        Assert.Equal((10000, 1, 28, 28), (test.Count, test.Channels, test.Height, test.Width));
        Assert.Equal(60000, pair.Train.Count);
        Assert.All(test.CountPerClass(), n => Assert.Equal(1000, n));
        Assert.InRange(test.Labels.Min(), 0, 0);
        Assert.InRange(test.Labels.Max(), 9, 9);
        // The training mean/std on the 0–1 scale should reproduce the standard normalisation.
        double mean = pair.Train.Pixels.Average(b => (double)b) / 255;
        Assert.Equal(Normalization.FashionMnist.Mean[0], mean, 3);
    }

    [SkippableFact]
    public void Cifar10Folder()
    {
        string? shared = TestData.SharedDataDir();
        string? folder = shared is null ? null : Path.Combine(shared, "cifar10");
        if (folder is null || !File.Exists(Path.Combine(folder, "test_batch.bin")))
        {
            throw new SkipException($"CIFAR-10 binary batches not found (looked for shared/data/cifar10 above {AppContext.BaseDirectory}).");
        }
        var pair = DatasetSpec.Load("cifar10:" + folder);
        Assert.Equal((50000, 10000), (pair.Train.Count, pair.Test.Count));
        Assert.Equal((3, 32, 32), (pair.Test.Channels, pair.Test.Height, pair.Test.Width));
        Assert.All(pair.Test.CountPerClass(), n => Assert.Equal(1000, n));
        Assert.Equal("airplane", pair.ClassNames[0]);
        // Per-channel training means on the 0–1 scale match the standard normalisation.
        const int plane = 32 * 32;
        var sums = new long[3];
        var pixels = pair.Train.Pixels;
        for (int k = 0; k < pixels.Length; k++) sums[k / plane % 3] += pixels[k];
        for (int c = 0; c < 3; c++)
            Assert.Equal(Normalization.Cifar10.Mean[c], sums[c] / 255.0 / (50000.0 * plane), 3);
    }
}
