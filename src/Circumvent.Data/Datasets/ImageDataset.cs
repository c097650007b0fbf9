namespace Circumvent.Data;

/// <summary>
/// Labelled images in one contiguous byte buffer, CHW per image, values 0–255.
/// Image i occupies Pixels[i·C·H·W .. (i+1)·C·H·W).
/// </summary>
public sealed class ImageDataset
{
    public ImageDataset(byte[] pixels, int[] labels, int channels, int height, int width, string[] classNames)
    {
        long expected = (long)labels.Length * channels * height * width;
        if (pixels.Length != expected)
            throw new ArgumentException($"Pixel buffer holds {pixels.Length} bytes; {labels.Length} images of {channels}×{height}×{width} need {expected}.");
        Pixels = pixels;
        Labels = labels;
        Channels = channels;
        Height = height;
        Width = width;
        ClassNames = classNames;
    }

    public byte[] Pixels { get; }
    public int[] Labels { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public string[] ClassNames { get; }
    public int Count => Labels.Length;
    public int NumClasses => ClassNames.Length;
    public int ImageSize => Channels * Height * Width;

    public Span<byte> Image(int index) => Pixels.AsSpan(index * ImageSize, ImageSize);
}
