using Circumvent.Data;
using Circumvent.Data.Formats;
using SkiaSharp;

namespace Circumvent.Tests.Data;

/// <summary>The image-folder reader: layout, class order, decoding through ImageFiles, and every kind of bad folder.</summary>
public class ImageFolderTests
{
    [Fact]
    public void ClassesAreTheSortedFolderNamesAndPngPixelsArriveExactly()
    {
        using var dir = new TempFolder();
        SyntheticImageFolder.Write(dir.Path, ["zebra", "ant", "Moth"], trainPerClass: 4, testPerClass: 2, size: 12);
        var pngPixels = new byte[3 * 12 * 12];
        new Random(9).NextBytes(pngPixels);
        EncodedImages.Write(Path.Combine(dir.Path, "train", "ant", "000.png"), 3, 12, 12, pngPixels);

        var pair = DatasetSpec.Load("imagefolder:" + dir.Path);
        // Ordinal order: upper case before lower case, as torchvision's sorted().
        Assert.Equal(["Moth", "ant", "zebra"], pair.ClassNames);
        Assert.Equal((12, 6), (pair.Train.Count, pair.Test.Count));
        Assert.Equal((3, 12, 12), (pair.Train.Channels, pair.Train.Height, pair.Train.Width));
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], pair.Train.Labels);
        // Within a class, files in name order: ant/000.png is the first image of class 1 (lossless PNG).
        Assert.Equal(pngPixels, pair.Train.Image(4).ToArray());
        Assert.Equal("imagefolder", pair.Name);
        Assert.Equal("crop 1", pair.Augmentation.Describe());
        // The normalisation is the training split's own statistics.
        Assert.Equal(Normalization.Measure(pair.Train).Mean, pair.Normalization.Mean);
    }

    [Fact]
    public void MeasuredNormalisationIsThePerChannelMeanAndPopulationStd()
    {
        // Two 1×1 RGB images: red channel 0 and 255 (mean 0.5, std 0.5), green 51 twice (std 0 → 1), blue 255 and 0.
        var images = new ImageDataset([0, 51, 255, 255, 51, 0], [0, 1], 3, 1, 1, ["a", "b"]);
        var n = Normalization.Measure(images);
        Assert.Equal([0.5f, 0.2f, 0.5f], n.Mean);
        Assert.Equal([0.5f, 1f, 0.5f], n.Std);
    }

    [Fact]
    public void GreyscaleFilesAmongColourOnesAreRepeatedOverThreeChannels()
    {
        using var dir = new TempFolder();
        SyntheticImageFolder.Write(dir.Path, ["a", "b"], trainPerClass: 2, testPerClass: 1, size: 8);
        var grey = Enumerable.Range(0, 64).Select(i => (byte)(i * 3)).ToArray();
        EncodedImages.Write(Path.Combine(dir.Path, "train", "b", "000.png"), 1, 8, 8, grey);
        var train = ImageFolder.Load(dir.Path).Train;
        Assert.Equal(3, train.Channels);
        Assert.Equal([.. grey, .. grey, .. grey], train.Image(2).ToArray());
    }

    [Fact]
    public void AllGreyscaleStaysOneChannelAndHiddenFilesAreSkipped()
    {
        using var dir = new TempFolder();
        foreach (var split in new[] { "train", "test" })
            foreach (var label in new[] { "0", "1" })
            {
                var folder = Directory.CreateDirectory(Path.Combine(dir.Path, split, label)).FullName;
                EncodedImages.Write(Path.Combine(folder, "x.png"), 1, 5, 7, new byte[35]);
                File.WriteAllText(Path.Combine(folder, ".DS_Store"), "finder");
            }
        Directory.CreateDirectory(Path.Combine(dir.Path, "train", ".thumbnails"));
        var (train, test) = ImageFolder.Load(dir.Path);
        Assert.Equal((2, 1, 5, 7), (train.Count, train.Channels, train.Height, train.Width));
        Assert.Equal(2, test.Count);
    }

    [Fact]
    public void TheTestSplitLoadsAloneWithItsOwnStatistics()
    {
        using var dir = new TempFolder();
        SyntheticImageFolder.Write(dir.Path, ["a", "b"], trainPerClass: 1, testPerClass: 3, size: 8);
        Directory.Delete(Path.Combine(dir.Path, "train"), recursive: true);
        var (test, normalization) = DatasetSpec.Parse("imagefolder:" + dir.Path).LoadTest();
        Assert.Equal(6, test.Count);
        Assert.Equal(Normalization.Measure(test).Std, normalization.Std);
        Assert.Contains("train", Assert.Throws<DataFormatException>(() => DatasetSpec.Load("imagefolder:" + dir.Path)).Message);
    }

    [Fact]
    public void TheTestSplitAloneStillMustMatchATrainingSplitBesideIt()
    {
        using var dir = new TempFolder();
        string root = Broken(dir.Path, "mismatched-classes");
        var e = Assert.Throws<DataFormatException>(() => DatasetSpec.Parse("imagefolder:" + root).LoadTest());
        Assert.Contains("only in train/: b; only in test/: c", e.Message);
    }

    [Fact]
    public void ImageFolderHasNoDefaultLocation()
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetSpec.Parse("imagefolder"));
        Assert.Contains("imagefolder:PATH", e.Message);
    }

    /// <summary>A broken folder made by <paramref name="breakIt"/>, and what its one-line error must name.</summary>
    public static TheoryData<string, string[]> BadFolders => new()
    {
        { "corrupt-png", ["train/b/003.png", "not a PNG or JPEG"] },
        { "truncated-jpeg", ["test/a/001.jpg"] },
        { "text-file", ["train/a/notes.txt", "not an image file"] },
        { "empty-class", ["train/b", "holds no images"] },
        { "missing-test", ["test", "split folder missing", "train/CLASS"] },
        { "mismatched-classes", ["different class folders", "only in train/: b", "only in test/: c"] },
        { "other-size", ["train/b/002.png", "9×8", "expected 8×8"] },
        { "loose-file", ["train/stray.png", "one folder per class"] },
        { "no-folder", ["image folder not found"] },
    };

    [Theory]
    [MemberData(nameof(BadFolders))]
    public void EachBadFolderIsOneErrorNamingTheFile(string breakIt, string[] expected)
    {
        using var dir = new TempFolder();
        string root = Broken(dir.Path, breakIt);
        var e = Assert.Throws<DataFormatException>(() => DatasetSpec.Load("imagefolder:" + root));
        foreach (var word in expected) Assert.Contains(word.Replace('/', Path.DirectorySeparatorChar), e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    /// <summary>A 2-class 8×8 image folder under <paramref name="parent"/> with one defect (see <see cref="BadFolders"/>).</summary>
    public static string Broken(string parent, string defect)
    {
        string root = Path.Combine(parent, "photos");
        SyntheticImageFolder.Write(root, ["a", "b"], trainPerClass: 4, testPerClass: 2, size: 8);
        string Part(params string[] parts) => Path.Combine([root, .. parts]);
        switch (defect)
        {
            case "corrupt-png": File.WriteAllBytes(Part("train", "b", "003.png"), [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]); break;
            case "truncated-jpeg":
                var bytes = File.ReadAllBytes(Part("test", "a", "001.jpg"));
                File.WriteAllBytes(Part("test", "a", "001.jpg"), bytes[..20]);
                break;
            case "text-file": File.WriteAllText(Part("train", "a", "notes.txt"), "my cats"); break;
            case "empty-class": foreach (var f in Directory.GetFiles(Part("train", "b"))) File.Delete(f); break;
            case "missing-test": Directory.Delete(Part("test"), recursive: true); break;
            case "mismatched-classes": Directory.Move(Part("test", "b"), Part("test", "c")); break;
            case "other-size": EncodedImages.Write(Part("train", "b", "002.png"), 3, 8, 9, new byte[3 * 72]); break;
            case "loose-file": EncodedImages.Write(Part("train", "stray.png"), 3, 8, 8, new byte[3 * 64]); break;
            case "no-folder": Directory.Delete(root, recursive: true); break;
            default: throw new ArgumentException(defect);
        }
        return root;
    }

    [Fact]
    public void GtsrbNeedsItsFortyThreeClassFolders()
    {
        using var dir = new TempFolder();
        SyntheticImageFolder.Write(dir.Path, ["00000", "00001"], trainPerClass: 1, testPerClass: 1, size: 8);
        var e = Assert.Throws<DataFormatException>(() => DatasetSpec.Load("gtsrb:" + dir.Path));
        Assert.Contains("43 class folders 00000 … 00042", e.Message);
        Assert.Contains("found 2", e.Message);
    }

    [Fact]
    public void GtsrbNamesItsClassesFromClassesTxt()
    {
        using var dir = new TempFolder();
        var ids = Enumerable.Range(0, 43).Select(k => k.ToString("D5")).ToArray();
        SyntheticImageFolder.Write(dir.Path, ids, trainPerClass: 1, testPerClass: 1, size: 8);
        Assert.Equal("00014", DatasetSpec.Load("gtsrb:" + dir.Path).ClassNames[14]);
        File.WriteAllLines(Path.Combine(dir.Path, "classes.txt"), ids.Select(id => $"{id} Sign {id}"));
        var pair = DatasetSpec.Load("gtsrb:" + dir.Path);
        Assert.Equal("Sign 00014", pair.ClassNames[14]);
        Assert.Equal(Normalization.Gtsrb, pair.Normalization);
        Assert.Equal("crop 1", pair.Augmentation.Describe());
        File.WriteAllLines(Path.Combine(dir.Path, "classes.txt"), ids.Reverse().Select(id => $"{id} Sign"));
        Assert.Contains("line 1 must be \"00000 NAME\"", Assert.Throws<DataFormatException>(() => DatasetSpec.Load("gtsrb:" + dir.Path)).Message);
    }
}
