using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Data;

/// <summary>Scoring needs the test split only: a folder holding just the test files loads (issue #20).</summary>
public class TestSplitLoadingTests
{
    [Fact]
    public void CifarTestSplitLoadsWithoutTheTrainingBatches()
    {
        using var dir = new TempFolder();
        dir.Write(Cifar10Binary.TestFile, Cifar10BinaryTests.Records(7, salt: 99));
        var (test, normalization) = DatasetSpec.Parse("cifar10:" + dir.Path).LoadTest();
        Assert.Equal(7, test.Count);
        Assert.Equal((3, 32, 32, 10), (test.Channels, test.Height, test.Width, test.NumClasses));
        Assert.Equal((byte)(99 % 251), test.Image(0)[0]);
        Assert.Equal(Normalization.Cifar10.Mean, normalization.Mean);
        // Training still needs all five batches and names them.
        Assert.Contains("data_batch_1.bin", Assert.Throws<DataFormatException>(() => DatasetSpec.Load("cifar10:" + dir.Path)).Message);
    }

    [Fact]
    public void CifarTestSplitMissingIsNamed()
    {
        using var dir = new TempFolder();
        dir.Write(Cifar10Binary.TrainFiles[0], Cifar10BinaryTests.Records(1));
        var e = Assert.Throws<DataFormatException>(() => DatasetSpec.Parse("cifar10:" + dir.Path).LoadTest());
        Assert.Contains("lacks test_batch.bin", e.Message);
        Assert.DoesNotContain("data_batch", e.Message);
    }

    [Fact]
    public void MnistLayoutTestSplitLoadsWithoutTheTrainingFiles()
    {
        var parent = CliHarness.TempFolder();
        var folder = TestFilesOnly(CliHarness.WriteSyntheticMnistLayout(Path.Combine(parent, "full"), trainCount: 10, testCount: 30), parent);
        var (test, normalization) = DatasetSpec.Parse("fashion-mnist:" + folder).LoadTest();
        Assert.Equal(30, test.Count);
        Assert.Equal("T-shirt/top", test.ClassNames[0]);
        Assert.Equal(Normalization.FashionMnist.Mean, normalization.Mean);
        Assert.Contains("train-images-idx3-ubyte", Assert.Throws<DataFormatException>(() => DatasetSpec.Load("fashion-mnist:" + folder)).Message);
    }

    /// <summary>A copy of an MNIST-layout folder's test files (t10k-*) alone, in a new folder under <paramref name="parent"/>.</summary>
    internal static string TestFilesOnly(string source, string parent)
    {
        var folder = Directory.CreateDirectory(Path.Combine(parent, "test-only")).FullName;
        foreach (var file in Directory.GetFiles(source, "t10k-*")) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        return folder;
    }
}
