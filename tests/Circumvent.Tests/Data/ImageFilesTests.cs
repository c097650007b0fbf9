using Circumvent.Data;
using Circumvent.Data.Formats;
using SkiaSharp;

namespace Circumvent.Tests.Data;

public class ImageFilesTests
{
    [Fact]
    public void RgbPngIsConvertedToPlanes()
    {
        using var dir = new TempFolder();
        var path = dir.File("a.png");
        // 2×1 image: pixel 0 = (1, 2, 3), pixel 1 = (4, 5, 6), written as planes.
        EncodedImages.Write(path, 3, 1, 2, [1, 4, 2, 5, 3, 6]);
        var image = ImageFiles.Read(path);
        Assert.Equal((3, 1, 2), (image.Channels, image.Height, image.Width));
        Assert.Equal(new byte[] { 1, 4, 2, 5, 3, 6 }, image.Pixels);
    }

    [Fact]
    public void GreyscalePngHasOneChannel()
    {
        using var dir = new TempFolder();
        var path = dir.File("grey.PNG");
        EncodedImages.Write(path, 1, 2, 2, [0, 85, 170, 255]);
        var image = ImageFiles.Read(path);
        Assert.Equal((1, 2, 2), (image.Channels, image.Height, image.Width));
        Assert.Equal(new byte[] { 0, 85, 170, 255 }, image.Pixels);
    }

    [Fact]
    public void JpegDecodesToNearlyTheWrittenColour()
    {
        using var dir = new TempFolder();
        var path = dir.File("white.jpg");
        var pixels = Enumerable.Repeat((byte)250, 3 * 8 * 8).ToArray();
        EncodedImages.Write(path, 3, 8, 8, pixels, SKEncodedImageFormat.Jpeg);
        var image = ImageFiles.Read(path);
        Assert.Equal((8, 8), (image.Height, image.Width));
        Assert.All(image.Pixels, b => Assert.InRange(b, 245, 255)); // lossy, but a flat patch survives
    }

    [Fact]
    public void NetpbmGoesThroughTheSameEntryPoint()
    {
        using var dir = new TempFolder();
        var path = dir.File("a.pgm");
        Netpbm.Write(path, 1, 1, 2, [7, 9]);
        Assert.Equal(new byte[] { 7, 9 }, ImageFiles.Read(path).Pixels);
    }

    [Theory]
    [InlineData("broken.png", "broken.png: not a PNG or JPEG image")]
    [InlineData("picture.gif", "expected an image ending in .png, .jpg, .jpeg")]
    public void BadFilesAreNamed(string name, string expected)
    {
        using var dir = new TempFolder();
        var path = dir.Write(name, "this is no image"u8.ToArray());
        var e = Assert.Throws<DataFormatException>(() => ImageFiles.Read(path));
        Assert.Contains(expected, e.Message);
    }
}
