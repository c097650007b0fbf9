using System.Text;
using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Tests.Data;

public class NetpbmTests
{
    private static byte[] Concat(string header, params byte[] raster) => [.. Encoding.ASCII.GetBytes(header), .. raster];

    [Fact]
    public void PpmWithCommentsIsConvertedToPlanes()
    {
        using var dir = new TempFolder();
        // 2×1 image: pixel 0 = (1,2,3), pixel 1 = (4,5,6).
        var path = dir.Write("a.ppm", Concat("P6\n# made by hand\n2 # width\n1\n# maxval next\n255\n", 1, 2, 3, 4, 5, 6));
        var image = Netpbm.Read(path);
        Assert.Equal((3, 1, 2), (image.Channels, image.Height, image.Width));
        Assert.Equal(new byte[] { 1, 4, 2, 5, 3, 6 }, image.Pixels);
    }

    [Fact]
    public void PgmWithSmallMaxvalIsRescaled()
    {
        using var dir = new TempFolder();
        var path = dir.Write("a.pgm", Concat("P5 3 1 15\n", 0, 15, 5));
        var image = Netpbm.Read(path);
        Assert.Equal((1, 1, 3), (image.Channels, image.Height, image.Width));
        Assert.Equal(new byte[] { 0, 255, 85 }, image.Pixels);
    }

    [Fact]
    public void RasterStartingWithWhitespaceByteIsNotSkipped()
    {
        using var dir = new TempFolder();
        var path = dir.Write("a.pgm", Concat("P5 2 1 255\n", (byte)' ', (byte)'\n'));
        Assert.Equal(new byte[] { 32, 10 }, Netpbm.Read(path).Pixels);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void WriteThenReadRoundTrips(int channels)
    {
        using var dir = new TempFolder();
        var pixels = Enumerable.Range(0, channels * 4 * 5).Select(i => (byte)(i * 13)).ToArray();
        var path = dir.File("img");
        Netpbm.Write(path, channels, 4, 5, pixels, comment: "trigger\nsecond line");
        var image = Netpbm.Read(path);
        Assert.Equal((channels, 4, 5), (image.Channels, image.Height, image.Width));
        Assert.Equal(pixels, image.Pixels);
        Assert.Equal(channels == 3 ? (byte)'6' : (byte)'5', File.ReadAllBytes(path)[1]);
    }

    [Theory]
    [InlineData("P3 1 1 255\n", "expected a binary PGM/PPM magic 'P5' or 'P6', found 'P3'")]
    [InlineData("P6 2 x 255\n", "expected the header height (a decimal number), found 'x'")]
    [InlineData("P6 2 1 # no maxval", "expected the header maxval (a decimal number), found end of file")]
    [InlineData("P5 2 1 65535\n", "expected maxval 1–255 (one byte per sample), found 65535")]
    [InlineData("P5 0 1 255\n", "expected width and height in 1–32768, found 0×1")]
    [InlineData("P6 2 2 255\n", "a 2×2 P6 raster needs 12 bytes, found 3")]
    public void BadHeadersAreReported(string header, string expected)
    {
        using var dir = new TempFolder();
        var path = dir.Write("bad.ppm", Concat(header, 1, 2, 3));
        var e = Assert.Throws<DataFormatException>(() => Netpbm.Read(path));
        Assert.Equal("bad.ppm: " + expected + ".", e.Message);
    }

    [Fact]
    public void SampleAboveMaxvalIsReported()
    {
        using var dir = new TempFolder();
        var path = dir.Write("a.pgm", Concat("P5 2 1 10\n", 3, 11));
        Assert.Contains("exceeds maxval 10", Assert.Throws<DataFormatException>(() => Netpbm.Read(path)).Message);
    }
}
