using System.Diagnostics;
using Circumvent.Data;
using Circumvent.Tests.Cli;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Data;

/// <summary>
/// GTSRB through the image-folder reader, on the shared 32×32 tree (../shared/data/gtsrb, see its README).
/// Skipped, saying so, when that folder is absent: a user's checkout has none.
/// </summary>
public class GtsrbTests(ITestOutputHelper output)
{
    private static string Folder()
    {
        string? shared = TestData.SharedDataDir();
        string? folder = shared is null ? null : Path.Combine(shared, "gtsrb");
        if (folder is null || !Directory.Exists(Path.Combine(folder, "test")))
            throw new SkipException($"GTSRB image folder not found (looked for shared/data/gtsrb above {AppContext.BaseDirectory}).");
        return folder;
    }

    [SkippableFact]
    public void BothSplitsHaveTheReadmesCountsClassesAndNormalisation()
    {
        string folder = Folder();
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var pair = DatasetSpec.Load("gtsrb:" + folder);
        output.WriteLine($"loaded {pair.Train.Count} + {pair.Test.Count} PNGs in {clock.Elapsed.TotalSeconds:F1} s " +
            $"({(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F1} s of CPU)");

        // The README: 12,630 test images (the official test set), 12,330 training images, 300 per class except
        // the smaller classes, which keep all theirs (210–270 each). The README says 8 such classes; the tree has 9
        // (34·300 + 2,130 = 12,330, the README's total).
        Assert.Equal((12330, 12630), (pair.Train.Count, pair.Test.Count));
        Assert.Equal((43, 3, 32, 32), (pair.NumClasses, pair.Test.Channels, pair.Test.Height, pair.Test.Width));
        var perClass = pair.Train.CountPerClass();
        Assert.Equal(34, perClass.Count(n => n == 300));
        Assert.All(perClass.Where(n => n != 300), n => Assert.InRange(n, 210, 270));
        Assert.All(pair.Test.CountPerClass(), n => Assert.True(n > 0));
        Assert.Equal("Stop", pair.ClassNames[14]);
        Assert.Equal("Priority road", pair.ClassNames[12]);
        Assert.Equal("crop 4", pair.Augmentation.Describe());

        var measured = Normalization.Measure(pair.Train);
        output.WriteLine($"measured training normalisation: {measured.OptionText()}");
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(measured.Mean[c], pair.Normalization.Mean[c], 0.0001);
            Assert.Equal(measured.Std[c], pair.Normalization.Std[c], 0.0001);
        }
    }
}
