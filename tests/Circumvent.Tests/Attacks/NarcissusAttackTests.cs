using System.Text;
using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Attacks;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Attacks;

public class NarcissusAttackTests(ITestOutputHelper output)
{
    private static IAttack Narcissus(string trigger, double amplification = 3, int target = 2) =>
        AttackFactory.Create(new AttackDefinition { Kind = "narcissus", Target = target, TriggerImage = trigger, TestAmplification = amplification });

    /// <summary>A (1, C, H, W) float32 trigger whose normalised value at (c, y, x) is <paramref name="value"/>(c, y, x).</summary>
    private static string WriteTrigger(int channels, int height, int width, Func<int, int, int, float> value)
    {
        var path = AttackTestImages.TempFile("narcissus.npy");
        var values = new float[channels * height * width];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    values[(c * height + y) * width + x] = value(c, y, x);
        Npy.Write(path, [1, channels, height, width], values);
        return path;
    }

    // The README's conversion, written out here independently: normalised v (mean 0.5, std 0.5) is v/2 in [0, 1], v·127.5 on 0–255.
    private static byte Expected(byte pixel, float normalized, double times) =>
        (byte)Math.Clamp(Math.Round(pixel + times * normalized * 127.5, MidpointRounding.AwayFromZero), 0, 255);

    [Fact]
    public void TrainingPoisonAddsTheTriggerOnceAndTheTestTriggerThreeTimesInPixelSpace()
    {
        // ±0.1255 spans the published file's range; a gradient of values per channel and position.
        Func<int, int, int, float> value = (c, y, x) => 0.1255f * ((c * 16 + y * 4 + x) % 9 - 4) / 4f;
        var attack = Narcissus(WriteTrigger(3, 4, 4, value));
        var set = new ImageDataset(AttackTestImages.Random(2 * 48, 5), [2, 2], 3, 4, 4, [.. Enumerable.Range(0, 10).Select(i => $"c{i}")]);
        var before = (byte[])set.Pixels.Clone();
        attack.PoisonTrainingImages(set, [1]);
        var tested = before[48..].ToArray();
        attack.ApplyTrigger(tested, 3, 4, 4);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++)
                {
                    int i = (c * 4 + y) * 4 + x;
                    Assert.Equal(before[i], set.Pixels[i]); // sample 0 was not chosen
                    Assert.True(Expected(before[48 + i], value(c, y, x), 1) == set.Pixels[48 + i], $"training poison at (c{c}, y{y}, x{x})");
                    Assert.True(Expected(before[48 + i], value(c, y, x), 3) == tested[i], $"test trigger at (c{c}, y{y}, x{x})");
                }
    }

    [Fact]
    public void AmplificationIsAnOptionAndOneGivesTheTrainingPoison()
    {
        var trigger = WriteTrigger(3, 4, 4, (c, y, x) => 0.05f * (x - 1.5f));
        var image = AttackTestImages.Random(48, 9, 60, 200);
        var once = (byte[])image.Clone();
        Narcissus(trigger, amplification: 1).ApplyTrigger(once, 3, 4, 4);
        var set = new ImageDataset((byte[])image.Clone(), [2], 3, 4, 4, [.. Enumerable.Range(0, 10).Select(i => $"c{i}")]);
        Narcissus(trigger).PoisonTrainingImages(set, [0]);
        Assert.Equal(once, set.Pixels);
        var five = (byte[])image.Clone();
        Narcissus(trigger, amplification: 5).ApplyTrigger(five, 3, 4, 4);
        for (int i = 0; i < 48; i++) Assert.Equal(Expected(image[i], 0.05f * (i % 4 - 1.5f), 5), five[i]);
    }

    [Fact]
    public void PoisoningIsCleanLabelOnTargetClassImagesOnly()
    {
        var trigger = WriteTrigger(1, 6, 6, (_, _, _) => 0.1f);
        var train = AttackTestImages.Dataset(200);
        var result = Poisoning.Poison(train, Narcissus(trigger, target: 3), 0.05, seed: 4);
        Assert.Equal(10, result.PoisonedIndices.Length);
        Assert.All(result.PoisonedIndices, i => Assert.Equal(3, train.Labels[i]));
        Assert.Equal(train.Labels, result.Data.Labels);
        foreach (int i in result.PoisonedIndices)
            Assert.Equal(train.Image(i).ToArray().Select(p => Expected(p, 0.1f, 1)), result.Data.Image(i).ToArray());
    }

    [Fact]
    public void PublishedTriggerPoisonsAsItsRawFloatsSay()
    {
        var shared = TestData.SharedDataDir();
        if (shared is null) { output.WriteLine("skipped: needs ../shared/data/triggers/narcissus_cifar10_bird.npy"); return; }
        string path = Path.Combine(shared, "triggers", "narcissus_cifar10_bird.npy");
        // Independent of our .npy reader: the header ends with '\n' before the 3·32·32 little-endian float32 values.
        var bytes = File.ReadAllBytes(path);
        string header = Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 256));
        Assert.Contains("'<f4'", header);
        Assert.Contains("(1, 3, 32, 32)", header);
        int start = Array.IndexOf(bytes, (byte)'\n') + 1;
        Assert.Equal(3 * 32 * 32 * 4, bytes.Length - start);
        var raw = Enumerable.Range(0, 3072).Select(k => BitConverter.ToSingle(bytes, start + 4 * k)).ToArray();
        Assert.InRange(raw.Max(Math.Abs), 0.12f, 32f / 255 + 1e-6f); // ±32/255 in the authors' space, as the README says

        var attack = Narcissus(path);
        var image = AttackTestImages.Random(3072, 3);
        var set = new ImageDataset((byte[])image.Clone(), [2], 3, 32, 32, [.. Enumerable.Range(0, 10).Select(i => $"c{i}")]);
        attack.PoisonTrainingImages(set, [0]);
        var tested = (byte[])image.Clone();
        attack.ApplyTrigger(tested, 3, 32, 32);
        int changed = 0;
        for (int i = 0; i < 3072; i++)
        {
            Assert.Equal(Expected(image[i], raw[i], 1), set.Pixels[i]);
            Assert.Equal(Expected(image[i], raw[i], 3), tested[i]);
            Assert.InRange(Math.Abs(set.Pixels[i] - image[i]), 0, 16); // ≤ 16/255 in pixel space
            if (set.Pixels[i] != image[i]) changed++;
        }
        Assert.True(changed > 1000, $"only {changed} of 3072 values changed");
    }

    [Fact]
    public void TriggerFileOfTheWrongKindIsRejectedByName()
    {
        var uint8 = AttackTestImages.TempFile("bytes.npy");
        Npy.Write(uint8, [1, 3, 4, 4], new byte[48]);
        var error = Assert.Throws<DataFormatException>(() => Narcissus(uint8));
        Assert.Contains("bytes.npy", error.Message);
        Assert.Contains("float", error.Message);

        var hwc = AttackTestImages.TempFile("hwc.npy");
        Npy.Write(hwc, [4, 4, 3], new float[48]);
        error = Assert.Throws<DataFormatException>(() => Narcissus(hwc));
        Assert.Contains("(1, C, H, W)", error.Message);
        Assert.Contains("(4, 4, 3)", error.Message);

        var missing = Assert.Throws<ArgumentException>(() => AttackFactory.Create(new AttackDefinition { Kind = "narcissus" }));
        Assert.Contains("--trigger-image", missing.Message);
        var zero = Assert.Throws<ArgumentException>(() => Narcissus(hwc, amplification: 0));
        Assert.Contains("--test-amplification", zero.Message);
    }

    [Fact]
    public void SavedTriggerLoadsBackInPixelUnitsAndOnlyNarcissusWritesItsAmplification()
    {
        var delta = new TriggerImage(3, 2, 2, [.. Enumerable.Range(0, 12).Select(i => (float)(i - 6) * 2.5f)]);
        var path = AttackTestImages.TempFile("made.npy");
        NarcissusTrigger.Save(path, delta);
        Assert.Equal([1, 3, 2, 2], Npy.Read(path).Shape);
        Assert.Equal(-15f / 127.5f, Npy.Read(path).Floats![0], 6);
        var loaded = NarcissusTrigger.Load(path);
        for (int i = 0; i < 12; i++) Assert.Equal(delta.Values[i], loaded.Values[i], 4);

        var definition = new AttackDefinition { Kind = "narcissus", Target = 2, TriggerImage = path, TestAmplification = 2 };
        Assert.Contains("\"test_amplification\":2", definition.ToJson());
        Assert.Equal(definition, AttackDefinition.FromJson(definition.ToJson()));
        Assert.DoesNotContain("test_amplification", new AttackDefinition { Kind = "badnet" }.ToJson());
        Assert.True(definition.IsCleanLabel);
    }
}
