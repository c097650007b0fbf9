using Circumvent.Data;

namespace Circumvent.Attacks;

/// <summary>
/// How well an <see cref="SsbaEncoder"/> hides and recovers its bits on some images, measured on what
/// poisoning writes (the encoded images rounded to bytes): the share of bits its decoder reads back, and
/// the residual E(x, s) − x on the 0–255 scale — PSNR (dB, over all pixels), largest and mean |residual|.
/// </summary>
public sealed record StegaStampQuality(double BitAccuracy, double Psnr, int MaxAbsResidual, double MeanAbsResidual, int Images)
{
    /// <summary>
    /// Encodes a copy of <paramref name="images"/> (the input is untouched), the image at position i with
    /// <paramref name="secretOf"/>(i), decodes it and compares.
    /// </summary>
    public static StegaStampQuality Measure(SsbaEncoder encoder, ImageDataset images, Func<int, float[]> secretOf)
    {
        if (images.Count == 0) throw new ArgumentException("ssba: no images to measure the encoder on.");
        var encoded = new ImageDataset((byte[])images.Pixels.Clone(), (int[])images.Labels.Clone(), images.Channels, images.Height, images.Width, images.ClassNames);
        var all = Enumerable.Range(0, images.Count).ToArray();
        encoder.EncodeInPlace(encoded, all, secretOf);
        var decoded = encoder.Decode(encoded, all);
        long right = 0;
        for (int i = 0; i < all.Length; i++)
        {
            var secret = secretOf(i);
            for (int b = 0; b < secret.Length; b++) if (decoded[i][b] == (secret[b] > 0.5f)) right++;
        }
        var (psnr, max, mean) = Residuals(images.Pixels, encoded.Pixels);
        return new StegaStampQuality((double)right / ((long)images.Count * encoder.Bits), psnr, max, mean, images.Count);
    }

    /// <summary>
    /// The residual <paramref name="after"/> − <paramref name="before"/> of two equally long byte images (0–255):
    /// PSNR = 10·log10(255² / mean squared residual) in dB (∞ when equal), the largest and the mean |residual|.
    /// </summary>
    public static (double Psnr, int MaxAbs, double MeanAbs) Residuals(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        if (before.Length != after.Length || before.Length == 0)
            throw new ArgumentException($"ssba: residuals need two equally long non-empty images, got {before.Length} and {after.Length} bytes.");
        double squared = 0, absolute = 0;
        int max = 0;
        for (int k = 0; k < before.Length; k++)
        {
            int d = Math.Abs(after[k] - before[k]);
            squared += d * d;
            absolute += d;
            max = Math.Max(max, d);
        }
        double mse = squared / before.Length;
        return (mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse), max, absolute / before.Length);
    }

    /// <summary>Random bit strings, one per image position, from <paramref name="seed"/> (the round trip on strings the encoder never saw).</summary>
    public static Func<int, float[]> RandomSecrets(int bits, int count, int seed)
    {
        var rng = new Random(seed);
        var secrets = new float[count][];
        for (int i = 0; i < count; i++)
        {
            secrets[i] = new float[bits];
            for (int b = 0; b < bits; b++) secrets[i][b] = rng.Next(2);
        }
        return i => secrets[i];
    }

    public override string ToString() =>
        $"bit accuracy {100 * BitAccuracy:F2}% on {Images} images, residual PSNR {Psnr:F2} dB, L∞ {MaxAbsResidual}/255, mean |r| {MeanAbsResidual:F2}/255";
}
