using Circumvent.Attacks;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Attacks;

public class WaNetAttackTests
{
    private static WaNetAttack WaNet(double strength = 0.5, int seed = 0, int noiseRatio = 2, int target = 0, double rescale = 1) =>
        (WaNetAttack)AttackFactory.Create(new AttackDefinition
        {
            Kind = "wanet", Target = target, WarpStrength = strength, Seed = seed, NoiseRatio = noiseRatio, GridRescale = rescale,
        });

    private static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData("square")]
    [InlineData("strong")]
    [InlineData("wide")]
    public void GridAndWarpMatchPyTorch(string name)
    {
        var fx = SafetensorsFixture.Load("wanet.safetensors");
        var p = fx.Case(name);
        int k = p.GetProperty("k").GetInt32(), h = p.GetProperty("h").GetInt32(), w = p.GetProperty("w").GetInt32();
        int channels = p.GetProperty("channels").GetInt32();
        var flow = fx.F32($"{name}.flow").ToArray();

        AssertClose(fx.F32($"{name}.upsampled").ToArray(), WarpField.Upsampled(flow, k, h, w), 1e-5f, "upsampled flow");
        var grid = WarpField.Grid(flow, k, h, w, p.GetProperty("s").GetDouble(), p.GetProperty("rescale").GetDouble());
        AssertClose(fx.F32($"{name}.grid").ToArray(), grid, 1e-6f, "grid");

        var image = fx.F32($"{name}.image").ToArray().Select(v => (byte)v).ToArray();
        WaNetAttack.Warp(image, channels, h, w, grid);
        var expected = fx.F32($"{name}.warped").ToArray().Select(v => (float)Math.Round(v, MidpointRounding.AwayFromZero)).ToArray();
        // Rounding of values within float error of a .5 may go either way: at most 1 level apart.
        AssertClose(expected, image.Select(b => (float)b).ToArray(), 1f, "warped image");
    }

    [Fact]
    public void ZeroStrengthIsTheIdentity()
    {
        var before = AttackTestImages.Random(3 * 32 * 32, 5);
        var after = (byte[])before.Clone();
        WaNet(strength: 0).ApplyTrigger(after, 3, 32, 32);
        Assert.Equal(before, after);
        var odd = AttackTestImages.Random(2 * 7 * 11, 6);
        var warped = (byte[])odd.Clone();
        WaNet(strength: 0).ApplyTrigger(warped, 2, 7, 11);
        Assert.Equal(odd, warped);
    }

    [Fact]
    public void DefaultWarpMovesPixelsAndIsDeterministicPerSeed()
    {
        var before = AttackTestImages.Random(3 * 32 * 32, 7);
        byte[] Warped(WaNetAttack attack)
        {
            var image = (byte[])before.Clone();
            attack.ApplyTrigger(image, 3, 32, 32);
            return image;
        }
        var a = Warped(WaNet(seed: 1));
        Assert.NotEqual(before, a);
        Assert.Equal(a, Warped(WaNet(seed: 1)));
        Assert.NotEqual(a, Warped(WaNet(seed: 2)));
        // The grid stays inside [−1, 1] and moves pixels by under a pixel on average at s = 0.5.
        var grid = WaNet(seed: 1).GridFor(32, 32);
        Assert.All(grid, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(1.0, WarpField.RandomFlow(4, 1).Average(v => Math.Abs(v)), 5);
    }

    [Fact]
    public void NoiseSamplesKeepTheirLabelsAndDifferFromThePoisonedWarp()
    {
        var train = AttackTestImages.Dataset(count: 200, channels: 3, height: 8, width: 8);
        var attack = WaNet(strength: 4, seed: 3, target: 1);
        var result = Poisoning.Poison(train, attack, rate: 0.1, seed: 9);
        Assert.Equal(20, result.PoisonedIndices.Length);
        Assert.Equal(40, result.NoiseIndices.Length); // noise ratio 2
        Assert.Empty(result.NoiseIndices.Intersect(result.PoisonedIndices));
        Assert.All(result.PoisonedIndices, i => Assert.Equal(1, result.Data.Labels[i]));
        Assert.All(result.NoiseIndices, i => Assert.Equal(train.Labels[i], result.Data.Labels[i]));
        int differing = 0;
        foreach (int i in result.NoiseIndices)
        {
            var exactWarp = train.Image(i).ToArray();
            attack.ApplyTrigger(exactWarp, 3, 8, 8);
            Assert.False(train.Image(i).SequenceEqual(result.Data.Image(i)), $"noise sample {i} was not touched");
            if (!exactWarp.AsSpan().SequenceEqual(result.Data.Image(i))) differing++;
        }
        Assert.True(differing > 30, $"only {differing} of 40 noise samples differ from the exact warp");
        var untouched = Enumerable.Range(0, train.Count).Except(result.PoisonedIndices).Except(result.NoiseIndices);
        Assert.All(untouched, i => Assert.True(train.Image(i).SequenceEqual(result.Data.Image(i))));

        var again = Poisoning.Poison(train, attack, 0.1, 9);
        Assert.Equal(result.NoiseIndices, again.NoiseIndices);
        Assert.Equal(result.Data.Pixels, again.Data.Pixels);
    }

    [Fact]
    public void NoiseModeOffAndTooManyNoiseSamples()
    {
        var train = AttackTestImages.Dataset(count: 100, channels: 1, height: 6, width: 6);
        Assert.Empty(Poisoning.Poison(train, WaNet(noiseRatio: 0), 0.1, 1).NoiseIndices);
        var error = Assert.Throws<ArgumentException>(() => Poisoning.Poison(train, WaNet(noiseRatio: 2), 0.4, 1));
        Assert.Contains("noise", error.Message);
    }

    [Theory]
    [InlineData(1, 0.5, 1.0, 0, "--warp-grid")]
    [InlineData(4, -0.5, 1.0, 0, "--warp-strength")]
    [InlineData(4, 0.5, 0.0, 0, "--grid-rescale")]
    [InlineData(4, 0.5, 1.0, -1, "--noise-ratio")]
    public void BadSettingsAreNamed(int k, double s, double rescale, int noise, string option)
    {
        var error = Assert.Throws<ArgumentException>(() => AttackFactory.Create(new AttackDefinition
        {
            Kind = "wanet", WarpGrid = k, WarpStrength = s, GridRescale = rescale, NoiseRatio = noise,
        }));
        Assert.Contains(option, error.Message);
    }
}
