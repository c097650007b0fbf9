using Circumvent.Data;
using Circumvent.Engine;

namespace Circumvent.Training;

/// <summary>
/// Mini-batches of an <see cref="ImageDataset"/>, normalised per channel ((b/255 − mean)/std).
/// Training sources reshuffle every epoch from (seed, epoch) and may augment with a random crop
/// from a zero-padded image (pad = H/8, i.e. 4 px at 32×32) and a horizontal flip, as in the
/// standard CIFAR recipe; evaluation sources yield the data in order, untouched.
/// </summary>
public sealed class ImageBatchSource : IBatchSource
{
    private readonly ImageDataset _data;
    private readonly float[] _scale;
    private readonly float[] _shift;
    private readonly int _batchSize;
    private readonly int? _shuffleSeed;
    private readonly int? _augmentSeed;

    private ImageBatchSource(ImageDataset data, ChannelNormalization normalization, int batchSize, int? shuffleSeed, int? augmentSeed)
    {
        if (batchSize <= 0) throw new ArgumentException($"--batch-size must be at least 1, got {batchSize}.");
        if (normalization.Mean.Length != data.Channels)
            throw new ArgumentException($"Normalization has {normalization.Mean.Length} channels but the images have {data.Channels}.");
        _data = data;
        // b/255 − mean over std = b·scale + shift
        _scale = normalization.Std.Select(sd => 1f / (255f * sd)).ToArray();
        _shift = normalization.Mean.Zip(normalization.Std, (m, sd) => -m / sd).ToArray();
        _batchSize = batchSize;
        _shuffleSeed = shuffleSeed;
        _augmentSeed = augmentSeed;
    }

    public static ImageBatchSource ForTraining(ImageDataset data, ChannelNormalization normalization, int batchSize, int shuffleSeed, int? augmentSeed) =>
        new(data, normalization, batchSize, shuffleSeed, augmentSeed);

    public static ImageBatchSource ForEvaluation(ImageDataset data, ChannelNormalization normalization, int batchSize) =>
        new(data, normalization, batchSize, null, null);

    public int Count => _data.Count;
    public int BatchesPerEpoch => (Count + _batchSize - 1) / _batchSize;

    public IEnumerable<Batch> Batches(int epoch)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        if (_shuffleSeed is int seed) new Random(unchecked(seed * 7919 + epoch)).Shuffle(order);
        Random? augment = _augmentSeed is int a ? new Random(unchecked(a * 7919 + epoch)) : null;
        int c = _data.Channels, h = _data.Height, w = _data.Width, size = _data.ImageSize;
        int pad = Math.Max(1, h / 8);
        for (int start = 0; start < Count; start += _batchSize)
        {
            int n = Math.Min(_batchSize, Count - start);
            var images = Tensor.Empty(n, c, h, w);
            var labels = new int[n];
            var dst = images.Data;
            for (int i = 0; i < n; i++)
            {
                int k = order[start + i];
                labels[i] = _data.Labels[k];
                int dy = 0, dx = 0;
                bool flip = false;
                if (augment is not null)
                {
                    dy = augment.Next(-pad, pad + 1);
                    dx = augment.Next(-pad, pad + 1);
                    flip = augment.Next(2) == 1;
                }
                CopyImage(_data.Image(k), dst.AsSpan(i * size, size), c, h, w, dy, dx, flip);
            }
            yield return new Batch(images, labels);
        }
    }

    // Output pixel (y, x) reads source (y + dy, x' + dx) with x' = flipped x; outside the image it is
    // a zero byte (black), normalised like any other pixel.
    private void CopyImage(ReadOnlySpan<byte> src, Span<float> dst, int c, int h, int w, int dy, int dx, bool flip)
    {
        for (int ch = 0; ch < c; ch++)
        {
            float scale = _scale[ch], shift = _shift[ch];
            var plane = src.Slice(ch * h * w, h * w);
            var outPlane = dst.Slice(ch * h * w, h * w);
            for (int y = 0; y < h; y++)
            {
                int sy = y + dy;
                for (int x = 0; x < w; x++)
                {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    byte b = sy >= 0 && sy < h && sx >= 0 && sx < w ? plane[sy * w + sx] : (byte)0;
                    outPlane[y * w + x] = b * scale + shift;
                }
            }
        }
    }
}

/// <summary>Per-channel mean and std on the 0–1 scale (torchvision Normalize after ToTensor).</summary>
public sealed record ChannelNormalization(float[] Mean, float[] Std)
{
    public static ChannelNormalization None(int channels) => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());
}
