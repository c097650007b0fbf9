using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Tests.Data;

public class DatasetSpecTests
{
    [Fact]
    public void ParsesKindAndPath()
    {
        var spec = DatasetSpec.Parse("CIFAR10:/data/c10");
        Assert.Equal(("cifar10", "/data/c10"), (spec.Kind, spec.Path));
        Assert.Equal(("mnist", "/m"), (DatasetSpec.Parse("mnist: /m").Kind, DatasetSpec.Parse("mnist: /m").Path));
    }

    /// <summary>What a config records for --data: the path made absolute, "~/" expanded; a bare kind and other text kept.</summary>
    [Fact]
    public void WithFullPathRootsTheDataPathAndKeepsEverythingElse()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        Assert.Equal("cifar10:" + Path.GetFullPath("data/c10"), DatasetSpec.WithFullPath("cifar10:data/c10"));
        Assert.Equal("cifar10:" + Path.GetFullPath("data/c10"), DatasetSpec.WithFullPath("cifar10:./x/../data/c10"));
        Assert.Equal("imagefolder:" + Path.Join(home, "photos"), DatasetSpec.WithFullPath("imagefolder:~/photos"));
        Assert.Equal(Path.Join(home, "photos"), DatasetSpec.Parse("imagefolder:~/photos").Path);
        Assert.Equal("cifar10:/data/c10", DatasetSpec.WithFullPath("cifar10:/data/c10"));
        Assert.Equal("fashion-mnist", DatasetSpec.WithFullPath("fashion-mnist"));
        Assert.Equal("note:data/c10", DatasetSpec.WithFullPath("note:data/c10"));
        Assert.Equal("data/c10", DatasetSpec.WithFullPath("data/c10"));
    }

    [Fact]
    public void FashionMnistHasADefaultFolder()
    {
        // NOTE: only meaningful when the variable does not redirect fashion-mnist elsewhere.
        string? dataDir = Environment.GetEnvironmentVariable(DatasetSpec.DataDirVariable);
        if (!string.IsNullOrEmpty(dataDir) && Directory.Exists(Path.Combine(dataDir, "fashion-mnist"))) return;
        Assert.Equal(DatasetSpec.FashionMnistSystemPath, DatasetSpec.Parse("fashion-mnist").Path);
        Assert.Equal(DatasetSpec.FashionMnistSystemPath, DatasetSpec.Parse("fashion-mnist:").Path);
    }

    [Fact]
    public void UnknownKindListsKnownKinds()
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetSpec.Parse("imagenet:/x"));
        Assert.Equal("Unknown dataset kind 'imagenet' in 'imagenet:/x'; known kinds: cifar10, fashion-mnist, mnist, gtsrb, imagefolder.", e.Message);
        Assert.Throws<ArgumentException>(() => DatasetSpec.Parse("  "));
    }

    [Fact]
    public void KindWithoutDefaultNeedsAPath()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(DatasetSpec.DataDirVariable))) return;
        var e = Assert.Throws<ArgumentException>(() => DatasetSpec.Parse("mnist"));
        Assert.Contains("mnist:PATH", e.Message);
    }

    [Fact]
    public void LoadsMnistLayoutWithMixedCompression()
    {
        using var dir = new TempFolder();
        var train = Enumerable.Range(0, 3 * 28 * 28).Select(i => (byte)i).ToArray();
        Idx.Write(dir.File("train-images-idx3-ubyte.gz"), [3, 28, 28], train, gzip: true);
        Idx.Write(dir.File("train-labels-idx1-ubyte"), [3], new byte[] { 9, 0, 4 });
        Idx.Write(dir.File("t10k-images-idx3-ubyte"), [1, 28, 28], new byte[28 * 28]);
        Idx.Write(dir.File("t10k-labels-idx1-ubyte.gz"), [1], new byte[] { 7 }, gzip: true);

        var pair = DatasetSpec.Load("fashion-mnist:" + dir.Path);
        Assert.Equal("fashion-mnist", pair.Name);
        Assert.Equal((3, 1, 28, 28), (pair.Train.Count, pair.Train.Channels, pair.Train.Height, pair.Train.Width));
        Assert.Equal(new[] { 9, 0, 4 }, pair.Train.Labels);
        Assert.Equal(train, pair.Train.Pixels);
        Assert.Equal(new[] { 7 }, pair.Test.Labels);
        Assert.Equal("Ankle boot", pair.ClassNames[9]);
        Assert.Equal("T-shirt/top", pair.ClassNames[0]);
        Assert.Same(Normalization.FashionMnist, pair.Normalization);
    }

    [Fact]
    public void MismatchedLabelCountIsReported()
    {
        using var dir = new TempFolder();
        Idx.Write(dir.File("train-images-idx3-ubyte"), [2, 2, 2], new byte[8]);
        Idx.Write(dir.File("train-labels-idx1-ubyte"), [3], new byte[3]);
        var e = Assert.Throws<DataFormatException>(() => DatasetSpec.Load("mnist:" + dir.Path));
        Assert.Equal("train-labels-idx1-ubyte: holds 3 labels but train-images-idx3-ubyte holds 2 images.", e.Message);
    }

    [Fact]
    public void MissingFolderAndFilesAreReported()
    {
        using var dir = new TempFolder();
        Assert.Contains("not found", Assert.Throws<DataFormatException>(() => DatasetSpec.Load("mnist:" + dir.File("none"))).Message);
        var e = Assert.Throws<DataFormatException>(() => DatasetSpec.Load("mnist:" + dir.Path));
        Assert.Contains("train-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("lacks", Assert.Throws<DataFormatException>(() => DatasetSpec.Load("cifar10:" + dir.Path)).Message);
    }

    [Fact]
    public void Cifar10SpecCarriesItsNormalisation()
    {
        using var dir = new TempFolder();
        Cifar10BinaryTests.WriteFolder(dir, perBatch: 2);
        var pair = DatasetSpec.Load("cifar10:" + dir.Path);
        Assert.Equal((10, 2), (pair.Train.Count, pair.Test.Count));
        Assert.Equal(new[] { 0.4914f, 0.4822f, 0.4465f }, pair.Normalization.Mean);
        Assert.Equal(new[] { 0.247f, 0.243f, 0.261f }, pair.Normalization.Std);
    }
}

public class NormalizationTests
{
    [Fact]
    public void StandardValues()
    {
        Assert.Equal((0.2860f, 0.3530f), (Normalization.FashionMnist.Mean[0], Normalization.FashionMnist.Std[0]));
        Assert.Equal((0.1307f, 0.3081f), (Normalization.Mnist.Mean[0], Normalization.Mnist.Std[0]));
        Assert.Equal(3, Normalization.Cifar10.Channels);
    }

    [Fact]
    public void ApplyMatchesToTensorThenNormalize()
    {
        var n = Normalization.Cifar10;
        Assert.Equal((200 / 255f - 0.4822f) / 0.243f, n.Apply(200, 1), 5);
        Assert.Equal(-0.4465f / 0.261f, n.Apply(0, 2), 5);
        Assert.Equal((1 - 0.4914f) / 0.247f, n.Apply(255, 0), 5);
        Assert.Equal(1f, Normalization.Identity(1).Apply(255, 0), 6);
    }

    [Fact]
    public void RejectsMismatchedOrNonPositive()
    {
        Assert.Throws<ArgumentException>(() => new Normalization([0.5f, 0.5f], [0.5f]));
        Assert.Throws<ArgumentException>(() => new Normalization([0.5f], [0f]));
    }
}

public class DataFormatExceptionTests
{
    [Fact]
    public void NamesTheFileOrFolder()
    {
        Assert.Equal("b.bin: bad.", new Circumvent.Data.DataFormatException("/x/a/b.bin", "bad.").Message);
        Assert.Equal("cifar10: bad.", new Circumvent.Data.DataFormatException("/x/cifar10/", "bad.").Message);
        Assert.Equal("/x/a/b.bin", new Circumvent.Data.DataFormatException("/x/a/b.bin", "bad.").FilePath);
    }
}
