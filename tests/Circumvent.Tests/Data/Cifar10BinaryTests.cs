using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Tests.Data;

public class Cifar10BinaryTests
{
    /// <summary>Records whose label is i % 10 and whose pixels encode (record, byte position).</summary>
    internal static byte[] Records(int count, int salt = 0)
    {
        var bytes = new byte[count * Cifar10Binary.RecordBytes];
        for (int r = 0; r < count; r++)
        {
            int o = r * Cifar10Binary.RecordBytes;
            bytes[o] = (byte)(r % 10);
            for (int k = 0; k < Cifar10Binary.ImageBytes; k++) bytes[o + 1 + k] = (byte)((r * 31 + k + salt) % 251);
        }
        return bytes;
    }

    internal static void WriteFolder(TempFolder dir, int perBatch, bool withMeta = true)
    {
        for (int b = 0; b < 5; b++) dir.Write(Cifar10Binary.TrainFiles[b], Records(perBatch, salt: b));
        dir.Write(Cifar10Binary.TestFile, Records(perBatch, salt: 99));
        if (withMeta)
            File.WriteAllLines(dir.File(Cifar10Binary.MetaFile), [.. Cifar10Binary.DefaultClassNames.Select(n => n.ToUpperInvariant()), ""]);
    }

    [Fact]
    public void BatchKeepsPlanesAndLabels()
    {
        using var dir = new TempFolder();
        var path = dir.Write("b.bin", Records(3));
        var (pixels, labels) = Cifar10Binary.ReadBatch(path);
        Assert.Equal(new[] { 0, 1, 2 }, labels);
        Assert.Equal(3 * 3072, pixels.Length);
        // Image 2, green plane (offset 1024), pixel (y=1, x=2) = byte k = 1024 + 32 + 2 of record 2.
        Assert.Equal((byte)((2 * 31 + 1024 + 34) % 251), pixels[2 * 3072 + 1024 + 34]);
    }

    [Fact]
    public void SizeNotAMultipleOfTheRecordIsReported()
    {
        using var dir = new TempFolder();
        var path = dir.Write("data_batch_1.bin", Records(10)[..^42]);
        var e = Assert.Throws<DataFormatException>(() => Cifar10Binary.ReadBatch(path));
        Assert.Equal("data_batch_1.bin: size 30688 is not a positive multiple of the 3073-byte CIFAR-10 record.", e.Message);
    }

    [Fact]
    public void LabelOutsideTenClassesIsReported()
    {
        using var dir = new TempFolder();
        var bytes = Records(2);
        bytes[Cifar10Binary.RecordBytes] = 57;
        var e = Assert.Throws<DataFormatException>(() => Cifar10Binary.ReadBatch(dir.Write("x.bin", bytes)));
        Assert.Contains("record 1 has label 57", e.Message);
    }

    [Fact]
    public void FolderLoadsTrainAndTestWithMetaNames()
    {
        using var dir = new TempFolder();
        WriteFolder(dir, perBatch: 4);
        var (train, test) = Cifar10Binary.LoadFolder(dir.Path);
        Assert.Equal(20, train.Count);
        Assert.Equal(4, test.Count);
        Assert.Equal((3, 32, 32), (train.Channels, train.Height, train.Width));
        Assert.Equal("AIRPLANE", train.ClassNames[0]);
        Assert.Equal(10, train.NumClasses);
        // Batch 3 (salt 2) starts at image 8.
        Assert.Equal((byte)(2 % 251), train.Image(8)[0]);
        Assert.Equal((byte)(99 % 251), test.Image(0)[0]);
    }

    [Fact]
    public void MissingFilesAreListed()
    {
        using var dir = new TempFolder();
        WriteFolder(dir, perBatch: 1);
        File.Delete(dir.File("data_batch_3.bin"));
        var e = Assert.Throws<DataFormatException>(() => Cifar10Binary.LoadFolder(dir.Path));
        Assert.Contains("lacks data_batch_3.bin", e.Message);
    }

    [Fact]
    public void MetaWithWrongCountIsReported()
    {
        using var dir = new TempFolder();
        WriteFolder(dir, perBatch: 1, withMeta: false);
        File.WriteAllLines(dir.File(Cifar10Binary.MetaFile), ["cat", "dog"]);
        var e = Assert.Throws<DataFormatException>(() => Cifar10Binary.LoadFolder(dir.Path));
        Assert.Contains("expected 10 class names", e.Message);
    }

    [Fact]
    public void DefaultNamesWithoutMeta()
    {
        using var dir = new TempFolder();
        WriteFolder(dir, perBatch: 1, withMeta: false);
        var (train, _) = Cifar10Binary.LoadFolder(dir.Path);
        Assert.Equal("truck", train.ClassNames[9]);
    }
}
