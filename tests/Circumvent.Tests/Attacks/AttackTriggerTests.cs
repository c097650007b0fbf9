using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Attacks;

public class AttackTriggerTests
{
    private static IAttack BadNet(int patchSize = 3, int? row = null, int? column = null, int colour = 255, string? image = null) =>
        AttackFactory.Create(new AttackDefinition { Kind = "badnet", PatchSize = patchSize, PatchRow = row, PatchColumn = column, PatchColour = colour, TriggerImage = image });

    private static string TempFile(string name)
    {
        var dir = Scratch.NewFolder("attack-");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }

    /// <summary>Asserts pixel (c, y, x) is <paramref name="inside"/> exactly where <paramref name="isPatch"/> says, else unchanged.</summary>
    private static void AssertPatch(byte[] before, byte[] after, int channels, int height, int width, Func<int, int, int, bool> isPatch, Func<int, int, int, byte> inside)
    {
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int i = (c * height + y) * width + x;
                    byte expected = isPatch(c, y, x) ? inside(c, y, x) : before[i];
                    Assert.True(expected == after[i], $"pixel (c{c}, y{y}, x{x}): expected {expected}, got {after[i]}");
                }
    }

    private static byte[] RandomImage(int size, int seed, int max = 200)
    {
        var rng = new Random(seed);
        var image = new byte[size];
        for (int i = 0; i < size; i++) image[i] = (byte)rng.Next(0, max);
        return image;
    }

    [Theory]
    [InlineData(1, 8, 8)]
    [InlineData(3, 32, 32)]
    [InlineData(3, 5, 7)]
    public void BadNetDefaultIsA3x3WhiteSquareBottomRight(int channels, int height, int width)
    {
        var before = RandomImage(channels * height * width, 1);
        var after = (byte[])before.Clone();
        BadNet().ApplyTrigger(after, channels, height, width);
        AssertPatch(before, after, channels, height, width,
            (_, y, x) => y >= height - 3 && x >= width - 3, (_, _, _) => 255);
    }

    [Fact]
    public void BadNetPositionSizeAndColourAreHonoured()
    {
        var before = RandomImage(3 * 10 * 12, 2);
        var after = (byte[])before.Clone();
        BadNet(patchSize: 2, row: 1, column: 4, colour: 7).ApplyTrigger(after, 3, 10, 12);
        AssertPatch(before, after, 3, 10, 12, (_, y, x) => y is 1 or 2 && x is 4 or 5, (_, _, _) => 7);

        // Only the row fixed: the column stays flush right.
        after = (byte[])before.Clone();
        BadNet(patchSize: 4, row: 0).ApplyTrigger(after, 3, 10, 12);
        AssertPatch(before, after, 3, 10, 12, (_, y, x) => y < 4 && x >= 8, (_, _, _) => 255);
    }

    [Fact]
    public void BadNetPatchThatDoesNotFitIsRejected()
    {
        var image = new byte[6 * 6];
        var error = Assert.Throws<ArgumentException>(() => BadNet(patchSize: 3, row: 4).ApplyTrigger(image, 1, 6, 6));
        Assert.Contains("does not fit", error.Message);
        Assert.Throws<ArgumentException>(() => BadNet(patchSize: 7).ApplyTrigger(image, 1, 6, 6));
        Assert.Throws<ArgumentException>(() => BadNet().ApplyTrigger(image, 3, 6, 6)); // wrong byte count
    }

    [Fact]
    public void BadNetTriggerImageIsPastedBottomRightAndReplicatedOverChannels()
    {
        // A 2×3 grey patch pasted into 3-channel 6×6 images at rows 4..5, cols 3..5.
        var path = TempFile("patch.pgm");
        byte[] patch = [10, 20, 30, 40, 50, 60];
        Netpbm.Write(path, 1, 2, 3, patch);
        var before = RandomImage(3 * 36, 3);
        var after = (byte[])before.Clone();
        BadNet(image: path).ApplyTrigger(after, 3, 6, 6);
        AssertPatch(before, after, 3, 6, 6, (_, y, x) => y >= 4 && x >= 3, (_, y, x) => patch[(y - 4) * 3 + (x - 3)]);
    }

    [Fact]
    public void BadNetTriggerImageLargerThanTheInputIsResizedToThePatchSize()
    {
        // A 12×12 PNG of two flat halves (left 40, right 200) on 6×6 inputs: at its own size it cannot fit;
        // resized to 4×4 (bilinear, no antialias) each half stays flat, so the patch is known exactly.
        var path = TempFile("large.png");
        var pixels = new byte[12 * 12];
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 12; x++) pixels[y * 12 + x] = (byte)(x < 6 ? 40 : 200);
        Circumvent.Tests.Data.EncodedImages.Write(path, 1, 12, 12, pixels);
        var image = new byte[36];
        var unsized = Assert.Throws<ArgumentException>(() => BadNet(image: path).ApplyTrigger(image, 1, 6, 6));
        Assert.Contains("--patch-size", unsized.Message);

        var attack = AttackFactory.Create(new AttackDefinition { Kind = "badnet", TriggerImage = path, PatchImageSize = 4, PatchRow = 0, PatchColumn = 0 });
        var before = RandomImage(36, 4);
        var after = (byte[])before.Clone();
        attack.ApplyTrigger(after, 1, 6, 6);
        AssertPatch(before, after, 1, 6, 6, (_, y, x) => y < 4 && x < 4, (_, _, x) => (byte)(x < 2 ? 40 : 200));
    }

    [Fact]
    public void PatchImageSizeNeedsATriggerImage()
    {
        var e = Assert.Throws<ArgumentException>(() => new AttackDefinition { Kind = "badnet", PatchImageSize = 4 }.Validate());
        Assert.Contains("trigger_image", e.Message);
        // Absent, it is not written: definitions stored before it existed keep their JSON (and experiment keys).
        Assert.DoesNotContain("patch_image_size", new AttackDefinition { Kind = "badnet" }.ToJson());
    }

    [Fact]
    public void BlendedFormulaRoundsOnKnownPixels()
    {
        // Pattern the same size as the image, so k is used exactly: x' = round(0.8·x + 0.2·k).
        var pattern = new TriggerImage(1, 1, 4, [201, 255, 3, 0]);
        var attack = new BlendedAttack(new AttackDefinition { Kind = "blended", TriggerImage = "in-memory", Alpha = 0.2 }, pattern);
        byte[] image = [100, 3, 200, 255];
        attack.ApplyTrigger(image, 1, 1, 4);
        // 80 + 40.2 = 120.2 → 120; 2.4 + 51 = 53.4 → 53; 160 + 0.6 = 160.6 → 161; 204 + 0 = 204.
        Assert.Equal(new byte[] { 120, 53, 161, 204 }, image);
    }

    [Fact]
    public void BlendedClipsOutOfRangePatterns()
    {
        var pattern = new TriggerImage(1, 1, 3, [400, -300, 100]);
        var attack = new BlendedAttack(new AttackDefinition { Kind = "blended", TriggerImage = "in-memory", Alpha = 0.5 }, pattern);
        byte[] image = [255, 10, 51];
        attack.ApplyTrigger(image, 1, 1, 3);
        // 327.5 → 255 (clipped); 5 − 150 → 0 (clipped); 25.5 + 50 = 75.5 → 76 (half away from zero).
        Assert.Equal(new byte[] { 255, 0, 76 }, image);
    }

    [Fact]
    public void BlendedAdaptsRgbToGreyByTheMean()
    {
        var path = TempFile("rgb.ppm");
        // 1×2 RGB image, CHW: R = (30, 250), G = (60, 251), B = (90, 252) → grey (60, 251).
        Netpbm.Write(path, 3, 1, 2, new byte[] { 30, 250, 60, 251, 90, 252 });
        var attack = AttackFactory.Create(new AttackDefinition { Kind = "blended", TriggerImage = path, Alpha = 0.5 });
        byte[] image = [0, 1];
        attack.ApplyTrigger(image, 1, 1, 2);
        Assert.Equal(new byte[] { 30, 126 }, image); // 0.5·60 = 30; 0.5 + 125.5 = 126
    }

    [Fact]
    public void BlendedResizesBilinearlyWithoutAlignedCorners()
    {
        // A 2×2 pattern [[0, 100], [0, 100]] resized to 4×4 (align_corners=False): each row reads
        // source x = (j + 0.5)/2 − 0.5 → 0, 0.75·0 + 0.25·100, 0.25·0 + 0.75·100, 100.
        var path = TempFile("ramp.pgm");
        Netpbm.Write(path, 1, 2, 2, new byte[] { 0, 100, 0, 100 });
        var attack = (BlendedAttack)AttackFactory.Create(new AttackDefinition { Kind = "blended", TriggerImage = path, Alpha = 1.0 });
        var pattern = attack.PatternFor(1, 4, 4);
        for (int y = 0; y < 4; y++)
            Assert.Equal(new[] { 0f, 25f, 75f, 100f }, pattern[(y * 4)..(y * 4 + 4)]);
        var image = new byte[16];
        attack.ApplyTrigger(image, 1, 4, 4);
        Assert.Equal(new byte[] { 0, 25, 75, 100 }, image[12..16]);
    }

    [Fact]
    public void NpyTriggerImagesAreReadAsHwcAndFloatsInUnitRangeAreScaled()
    {
        var hwc = TempFile("hwc.npy");
        // (H=1, W=2, C=3): pixel 0 = (1, 2, 3), pixel 1 = (4, 5, 6).
        Npy.Write(hwc, [1, 2, 3], new byte[] { 1, 2, 3, 4, 5, 6 });
        var image = TriggerImage.Load(hwc);
        Assert.Equal((3, 1, 2), (image.Channels, image.Height, image.Width));
        Assert.Equal(new[] { 1f, 4f, 2f, 5f, 3f, 6f }, image.Values);

        var unit = TempFile("unit.npy");
        Npy.Write(unit, [2, 2], new float[] { 0f, 0.5f, 1f, 0.2f });
        Assert.Equal(new[] { 0f, 127.5f, 255f, 51f }, TriggerImage.Load(unit).Values);
    }

    [Fact]
    public void MissingOrUnsupportedTriggerFilesAreRejected()
    {
        Assert.Throws<FileNotFoundException>(() => AttackFactory.Create(new AttackDefinition { Kind = "blended", TriggerImage = "/no/such/trigger.ppm" }));
        var text = TempFile("trigger.txt");
        File.WriteAllText(text, "not an image");
        var error = Assert.Throws<DataFormatException>(() => TriggerImage.Load(text));
        Assert.Contains(".ppm", error.Message);
    }

    [SkippableFact]
    public void BlendedHelloKittyOnCifarSizedImages()
    {
        var shared = TestData.SharedDataDir();
        var path = shared is null ? null : Path.Combine(shared, "triggers", "hello_kitty.ppm");
        if (path is null || !File.Exists(path))
        {
            throw new SkipException("shared/data/triggers/hello_kitty.ppm not found above the test folder.");
        }
        var attack = (BlendedAttack)AttackFactory.Create(new AttackDefinition { Kind = "blended", TriggerImage = path });
        var pattern = attack.PatternFor(3, 32, 32);
        Assert.Equal(3 * 32 * 32, pattern.Length);
        Assert.All(pattern, v => Assert.InRange(v, 0f, 255f));
        var before = RandomImage(3 * 32 * 32, 4, max: 256);
        var after = (byte[])before.Clone();
        attack.ApplyTrigger(after, 3, 32, 32);
        double alpha = 0.2;
        for (int i = 0; i < after.Length; i++)
            Assert.Equal((byte)Math.Round((1 - alpha) * before[i] + alpha * pattern[i], MidpointRounding.AwayFromZero), after[i]);
        Assert.NotEqual(before, after);
    }
}
