using System.Runtime.InteropServices;
using System.Security.Cryptography;

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

    /// <summary>A new dataset holding copies of the images at <paramref name="indices"/>, in that order, in one contiguous buffer.</summary>
    public ImageDataset Subset(int[] indices)
    {
        int size = ImageSize;
        var pixels = GC.AllocateUninitializedArray<byte>(checked(indices.Length * size));
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int source = indices[i];
            if ((uint)source >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"Subset index {source} at position {i} is outside the dataset's {Count} images.");
            Pixels.AsSpan(source * size, size).CopyTo(pixels.AsSpan(i * size));
            labels[i] = Labels[source];
        }
        return new ImageDataset(pixels, labels, Channels, Height, Width, ClassNames);
    }

    /// <summary>How many images each class has (length <see cref="NumClasses"/>).</summary>
    public int[] CountPerClass()
    {
        var counts = new int[NumClasses];
        foreach (var label in Labels) counts[label]++;
        return counts;
    }

    /// <summary>SHA-256 in hex over each set's shape, pixels and labels, in order: what a run's images hold, wherever they were read from.</summary>
    public static string Digest(IEnumerable<ImageDataset> sets)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<int> shape = stackalloc int[4];
        foreach (var set in sets)
        {
            shape[0] = set.Count; shape[1] = set.Channels; shape[2] = set.Height; shape[3] = set.Width;
            hash.AppendData(MemoryMarshal.AsBytes(shape));
            hash.AppendData(set.Pixels);
            hash.AppendData(MemoryMarshal.AsBytes(set.Labels.AsSpan()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
