using System.Buffers.Binary;
using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Tests.Data;

public class IdxTests
{
    private static byte[] Pixels(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 % 256)).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImagesAndLabelsRoundTrip(bool gzip)
    {
        using var dir = new TempFolder();
        var pixels = Pixels(3 * 4 * 5);
        Idx.Write(dir.File("images"), [3, 4, 5], pixels, gzip);
        Idx.Write(dir.File("labels"), [3], new byte[] { 2, 0, 9 }, gzip);

        var images = Idx.ReadImages(dir.File("images"));
        Assert.Equal((3, 4, 5), (images.Count, images.Height, images.Width));
        Assert.Equal(pixels, images.Pixels);
        Assert.Equal(new[] { 2, 0, 9 }, Idx.ReadLabels(dir.File("labels")));
    }

    [Fact]
    public void GzipIsDetectedByMagicNotName()
    {
        using var dir = new TempFolder();
        Idx.Write(dir.File("plain.gz"), [2], new byte[] { 1, 2 }, gzip: false);
        Idx.Write(dir.File("packed"), [2], new byte[] { 3, 4 }, gzip: true);
        Assert.Equal(new[] { 1, 2 }, Idx.ReadLabels(dir.File("plain.gz")));
        Assert.Equal(new[] { 3, 4 }, Idx.ReadLabels(dir.File("packed")));
        Assert.Equal(0x1f, File.ReadAllBytes(dir.File("packed"))[0]);
    }

    [Fact]
    public void WrongMagicNamesExpectedAndFound()
    {
        using var dir = new TempFolder();
        Idx.Write(dir.File("labels"), [2], new byte[] { 1, 2 });
        var e = Assert.Throws<DataFormatException>(() => Idx.ReadImages(dir.File("labels")));
        Assert.Contains("labels:", e.Message);
        Assert.Contains("0x00000803", e.Message);
        Assert.Contains("0x00000801", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedDataIsReported(bool gzip)
    {
        using var dir = new TempFolder();
        var full = dir.File("full");
        Idx.Write(full, [2, 3, 3], Pixels(18), gzip: false);
        var bytes = File.ReadAllBytes(full)[..^5];
        var path = dir.Write("cut", bytes);
        if (gzip) GzipInPlace(path);

        var e = Assert.Throws<DataFormatException>(() => Idx.ReadImages(path));
        Assert.StartsWith("cut:", e.Message);
        Assert.Contains(gzip ? "truncated" : "need 34 bytes, file has 29", e.Message);
    }

    [Fact]
    public void ExtraBytesAreReported()
    {
        using var dir = new TempFolder();
        var path = dir.File("long");
        Idx.Write(path, [4], new byte[] { 1, 2, 3, 4 });
        File.AppendAllText(path, "xx");
        var e = Assert.Throws<DataFormatException>(() => Idx.ReadLabels(path));
        Assert.Contains("file has 14", e.Message);
    }

    [Fact]
    public void AbsurdDimensionsAreRejectedBeforeAllocating()
    {
        using var dir = new TempFolder();
        var header = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, Idx.ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 60000);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), 100000);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), 100000);
        var path = dir.Write("huge", header);
        var e = Assert.Throws<DataFormatException>(() => Idx.ReadImages(path));
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void EmptyAndMissingFilesAreReported()
    {
        using var dir = new TempFolder();
        var empty = dir.Write("empty", []);
        Assert.Contains("truncated", Assert.Throws<DataFormatException>(() => Idx.ReadLabels(empty)).Message);
        Assert.Contains("not found", Assert.Throws<DataFormatException>(() => Idx.ReadLabels(dir.File("nope"))).Message);
    }

    [Fact]
    public void CorruptGzipIsReported()
    {
        using var dir = new TempFolder();
        var path = dir.Write("bad.gz", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff]);
        Assert.Throws<DataFormatException>(() => Idx.ReadLabels(path));
    }

    private static void GzipInPlace(string path)
    {
        var bytes = File.ReadAllBytes(path);
        using var file = File.Create(path);
        using var gz = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest);
        gz.Write(bytes);
    }
}
