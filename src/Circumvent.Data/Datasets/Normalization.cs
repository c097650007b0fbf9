namespace Circumvent.Data;

/// <summary>
/// Per-channel mean and standard deviation on the 0–1 scale: a pixel byte b of channel c becomes
/// (b/255 − Mean[c]) / Std[c], as torchvision's ToTensor + Normalize.
/// </summary>
public sealed record Normalization
{
    public Normalization(float[] mean, float[] std)
    {
        if (mean.Length != std.Length || mean.Length == 0)
            throw new ArgumentException($"Normalization needs one mean and one std per channel, got {mean.Length} means and {std.Length} stds.");
        foreach (var s in std)
            if (!(s > 0)) throw new ArgumentException($"Normalization std must be positive, got {s}.");
        Mean = mean;
        Std = std;
    }

    public float[] Mean { get; }
    public float[] Std { get; }
    public int Channels => Mean.Length;

    public static Normalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.247f, 0.243f, 0.261f]);
    public static Normalization FashionMnist { get; } = new([0.2860f], [0.3530f]);
    public static Normalization Mnist { get; } = new([0.1307f], [0.3081f]);

    /// <summary>Only the /255 scaling (mean 0, std 1).</summary>
    public static Normalization Identity(int channels) => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Multiplier for a raw byte of channel c: 1 / (255·Std[c]).</summary>
    public float Scale(int channel) => 1f / (255f * Std[channel]);

    /// <summary>Value of a zero byte of channel c: −Mean[c] / Std[c].</summary>
    public float Shift(int channel) => -Mean[channel] / Std[channel];

    public float Apply(byte value, int channel) => value * Scale(channel) + Shift(channel);

    public override string ToString() =>
        $"mean ({string.Join(", ", Mean)}), std ({string.Join(", ", Std)})";
}
