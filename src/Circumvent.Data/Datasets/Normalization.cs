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

    // Equal when the values are: a record compares its arrays by reference, and two loads of the same statistics (a
    // checkpoint's record, a dataset's default) are two arrays.
    public bool Equals(Normalization? other) =>
        other is not null && Mean.AsSpan().SequenceEqual(other.Mean) && Std.AsSpan().SequenceEqual(other.Std);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var m in Mean) hash.Add(m);
        foreach (var s in Std) hash.Add(s);
        return hash.ToHashCode();
    }

    public static Normalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.247f, 0.243f, 0.261f]);
    public static Normalization FashionMnist { get; } = new([0.2860f], [0.3530f]);
    public static Normalization Mnist { get; } = new([0.1307f], [0.3081f]);

    /// <summary>
    /// GTSRB at 32×32: the per-channel mean and (population) std of the 12,330 training images of the shared
    /// gtsrb/ tree on the 0–1 scale, computed by <see cref="Measure"/> and rounded to 4 places (GtsrbTests checks them against the folder).
    /// </summary>
    public static Normalization Gtsrb { get; } = new([0.3407f, 0.3162f, 0.3270f], [0.2723f, 0.2631f, 0.2714f]);

    /// <summary>
    /// The per-channel mean and population std of <paramref name="images"/> on the 0–1 scale: the standard
    /// normalisation of a dataset that publishes none. A constant channel gets std 1 (it carries no signal to scale).
    /// </summary>
    public static Normalization Measure(ImageDataset images)
    {
        int channels = images.Channels, plane = images.Height * images.Width;
        var sum = new long[channels];
        var sumSquares = new long[channels];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            for (int c = 0; c < channels; c++)
                foreach (byte b in image.Slice(c * plane, plane))
                {
                    sum[c] += b;
                    sumSquares[c] += b * b;
                }
        }
        double n = (double)images.Count * plane;
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double m = sum[c] / n, variance = Math.Max(0, sumSquares[c] / n - m * m);
            mean[c] = (float)(m / 255);
            std[c] = variance > 0 ? (float)(Math.Sqrt(variance) / 255) : 1f;
        }
        return new Normalization(mean, std);
    }

    /// <summary>Only the /255 scaling (mean 0, std 1).</summary>
    public static Normalization Identity(int channels) => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Multiplier for a raw byte of channel c: 1 / (255·Std[c]).</summary>
    public float Scale(int channel) => 1f / (255f * Std[channel]);

    /// <summary>Value of a zero byte of channel c: −Mean[c] / Std[c].</summary>
    public float Shift(int channel) => -Mean[channel] / Std[channel];

    public float Apply(byte value, int channel) => value * Scale(channel) + Shift(channel);

    /// <summary>
    /// Parses the command line's --normalize: "MEAN,STD" (the same for every channel), per-channel lists
    /// "M1,M2,M3/S1,S2,S3", or "none" (raw pixels on the 0–1 scale). A single value stands for every
    /// channel (<see cref="ForChannels"/>). Throws <see cref="ArgumentException"/> naming the option.
    /// </summary>
    public static Normalization Parse(string text)
    {
        string value = text.Trim();
        if (value.Equals("none", StringComparison.OrdinalIgnoreCase)) return Identity(1);
        string[] means, stds;
        int slash = value.IndexOf('/');
        if (slash >= 0)
        {
            means = value[..slash].Split(',');
            stds = value[(slash + 1)..].Split(',');
        }
        else
        {
            var both = value.Split(',');
            if (both.Length != 2) throw BadOption(text, "two numbers MEAN,STD");
            (means, stds) = ([both[0]], [both[1]]);
        }
        if (means.Length != stds.Length) throw BadOption(text, $"as many stds as means (found {means.Length} means, {stds.Length} stds)");
        float Number(string part)
        {
            if (!float.TryParse(part.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
                throw BadOption(text, $"numbers, found '{part.Trim()}'");
            return v;
        }
        var mean = Array.ConvertAll(means, Number);
        var std = Array.ConvertAll(stds, Number);
        if (std.Any(s => !(s > 0))) throw BadOption(text, "positive stds");
        return new Normalization(mean, std);
    }

    private static ArgumentException BadOption(string text, string expected) =>
        new($"--normalize must be MEAN,STD, M1,M2,M3/S1,S2,S3 or none; expected {expected} in '{text}'.");

    /// <summary>This normalisation for <paramref name="channels"/> input channels: a one-channel one is repeated.</summary>
    public Normalization ForChannels(int channels)
    {
        if (channels == Channels) return this;
        if (Channels == 1) return new Normalization(Enumerable.Repeat(Mean[0], channels).ToArray(), Enumerable.Repeat(Std[0], channels).ToArray());
        throw new ArgumentException($"--normalize gives {Channels} values per list for {channels}-channel inputs; give 1 or {channels}.");
    }

    /// <summary>What a network sees, for score lines: "raw [0, 1]" or "mean 0.5 std 0.5" (one value when all channels share it).</summary>
    public string Describe()
    {
        if (Mean.All(m => m == 0) && Std.All(s => s == 1)) return "raw [0, 1]";
        return $"mean {List(Mean)} std {List(Std)}";
    }

    /// <summary>The --normalize text that gives this normalisation back.</summary>
    public string OptionText()
    {
        if (Mean.All(m => m == 0) && Std.All(s => s == 1)) return "none";
        return Mean.Distinct().Count() == 1 && Std.Distinct().Count() == 1 ? $"{List(Mean)},{List(Std)}"
            : $"{string.Join(",", Mean.Select(Format))}/{string.Join(",", Std.Select(Format))}";
    }

    private static string List(float[] values) =>
        values.Distinct().Count() == 1 ? Format(values[0]) : string.Join(",", values.Select(Format));

    private static string Format(float value) => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    public override string ToString() =>
        $"mean ({string.Join(", ", Mean)}), std ({string.Join(", ", Std)})";
}
