namespace Circumvent.Data.Loading;

/// <summary>
/// A batch before augmentation and normalisation: copies of the source images (Count·C·H·W bytes,
/// CHW per image) and labels, which a <see cref="BatchLoaderOptions.Transform"/> hook may change
/// in place (e.g. stamp a trigger and relabel to the target class). <see cref="Indices"/> are the
/// images' positions in the source dataset and must not be changed.
/// </summary>
public sealed class RawBatch(byte[] pixels, int[] labels, int[] indices, int channels, int height, int width)
{
    public byte[] Pixels { get; } = pixels;
    public int[] Labels { get; } = labels;
    public int[] Indices { get; } = indices;
    public int Channels { get; } = channels;
    public int Height { get; } = height;
    public int Width { get; } = width;
    public int Count => Labels.Length;
    public int ImageSize => Channels * Height * Width;

    public Span<byte> Image(int i) => Pixels.AsSpan(i * ImageSize, ImageSize);

    /// <summary>A copy whose pixels and labels can be changed without touching this batch's.</summary>
    public RawBatch Copy() => new((byte[])Pixels.Clone(), (int[])Labels.Clone(), Indices, Channels, Height, Width);

    /// <summary>Copies the images at <paramref name="indices"/> out of <paramref name="dataset"/>.</summary>
    public static RawBatch Gather(ImageDataset dataset, ReadOnlySpan<int> indices)
    {
        int size = dataset.ImageSize;
        var pixels = GC.AllocateUninitializedArray<byte>(indices.Length * size);
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            dataset.Image(indices[i]).CopyTo(pixels.AsSpan(i * size, size));
            labels[i] = dataset.Labels[indices[i]];
        }
        return new RawBatch(pixels, labels, indices.ToArray(), dataset.Channels, dataset.Height, dataset.Width);
    }
}
