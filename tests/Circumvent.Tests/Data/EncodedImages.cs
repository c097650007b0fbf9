using SkiaSharp;

namespace Circumvent.Tests.Data;

/// <summary>Writes PNG/JPEG test files from planar (CHW) bytes with SkiaSharp's encoder.</summary>
public static class EncodedImages
{
    /// <param name="pixels">C·H·W bytes, C = 1 (written as a greyscale file) or 3.</param>
    public static void Write(string path, int channels, int height, int width, byte[] pixels, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 100)
    {
        var info = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        int plane = height * width, stride = channels == 1 ? 1 : 4;
        var interleaved = new byte[plane * stride];
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < channels; c++) interleaved[i * stride + c] = pixels[c * plane + i];
            if (stride == 4) interleaved[i * stride + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(interleaved, 0, bitmap.GetPixels(), interleaved.Length);
        using var data = bitmap.Encode(format, quality);
        File.WriteAllBytes(path, data.ToArray());
    }
}
