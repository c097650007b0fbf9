using Circumvent.Engine;

namespace Circumvent.Data.Loading;

/// <summary>
/// uint8 CHW images → normalised float (B, C, H, W), with crop/flip fused into the same pass so
/// each output value is written exactly once: out = byte·(1/(255·std)) − mean/std, and a padded
/// (out-of-image) position gets the value of a zero byte, −mean/std.
/// </summary>
public static class ImageTensors
{
    /// <summary>Normalises <paramref name="batch"/> without augmentation into a new pooled tensor.</summary>
    public static Tensor ToTensor(RawBatch batch, Normalization normalization) =>
        ToTensor(batch, normalization, new SampleTransform[batch.Count]);

    /// <summary>Normalised images of <paramref name="indices"/> (e.g. a whole evaluation set, chunk by chunk).</summary>
    public static Tensor ToTensor(ImageDataset dataset, ReadOnlySpan<int> indices, Normalization normalization) =>
        ToTensor(RawBatch.Gather(dataset, indices), normalization);

    /// <summary>Normalises with one <see cref="SampleTransform"/> per image into a new pooled tensor (B, C, H, W).</summary>
    public static Tensor ToTensor(RawBatch batch, Normalization normalization, ReadOnlySpan<SampleTransform> transforms)
    {
        if (normalization.Channels != batch.Channels)
            throw new ArgumentException($"Normalization has {normalization.Channels} channels, the images have {batch.Channels}.");
        if (transforms.Length != batch.Count)
            throw new ArgumentException($"Expected one transform per image ({batch.Count}), got {transforms.Length}.");
        var output = Tensor.Empty(batch.Count, batch.Channels, batch.Height, batch.Width);
        var destination = output.Span;
        int size = batch.ImageSize;
        for (int i = 0; i < batch.Count; i++)
            WriteImage(batch.Image(i), destination.Slice(i * size, size), batch.Channels, batch.Height, batch.Width, transforms[i], normalization);
        return output;
    }

    /// <summary>One image: <paramref name="source"/> (C, H, W) bytes → <paramref name="destination"/> (C, H, W) floats.</summary>
    public static void WriteImage(ReadOnlySpan<byte> source, Span<float> destination, int channels, int height, int width,
        SampleTransform transform, Normalization normalization)
    {
        int plane = height * width;
        for (int c = 0; c < channels; c++)
        {
            float scale = normalization.Scale(c), shift = normalization.Shift(c);
            var src = source.Slice(c * plane, plane);
            var dst = destination.Slice(c * plane, plane);
            for (int y = 0; y < height; y++)
            {
                var row = dst.Slice(y * width, width);
                int sy = transform.Source(y + transform.OffsetY, height);
                if (sy < 0)
                {
                    row.Fill(shift);
                    continue;
                }
                var srcRow = src.Slice(sy * width, width);
                for (int x = 0; x < width; x++)
                {
                    int sx = transform.Source((transform.Flip ? width - 1 - x : x) + transform.OffsetX, width);
                    row[x] = sx >= 0 ? srcRow[sx] * scale + shift : shift;
                }
            }
        }
    }
}
