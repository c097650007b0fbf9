using Circumvent.Attacks;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Attacks;

/// <summary>
/// CTRL's frequency trigger: the orthonormal DCT and its inverse, magnitude 0 changing no byte, and the whole trigger
/// against tools/fixtures/make_ctrl_fixture.py (an FFT-based DCT in NumPy, float64).
/// </summary>
public class CtrlTriggerTests
{
    [Fact]
    public void DctFollowedByItsInverseIsTheIdentityAndAConstantBlockHasOnlyItsDcTerm()
    {
        var dct = new BlockDct(32);
        var rng = new Random(5);
        var block = Enumerable.Range(0, 32 * 32).Select(_ => rng.NextDouble() * 255).ToArray();
        var copy = (double[])block.Clone();
        dct.Forward(copy);
        Assert.NotEqual(block, copy);
        dct.Inverse(copy);
        for (int i = 0; i < block.Length; i++) Assert.Equal(block[i], copy[i], 1e-9);

        var constant = Enumerable.Repeat(3.0, 32 * 32).ToArray();
        dct.Forward(constant);
        Assert.Equal(3.0 * 32, constant[0], 1e-9); // orthonormal: X₀₀ = Σx / N
        for (int i = 1; i < constant.Length; i++) Assert.Equal(0.0, constant[i], 1e-9);
    }

    [Fact]
    public void MagnitudeZeroChangesNoByte()
    {
        var rng = new Random(8);
        var image = new byte[3 * 32 * 32];
        rng.NextBytes(image);
        image.AsSpan(0, 200).Fill(255); // saturated corners too
        image.AsSpan(3000, 72).Clear();
        var triggered = (byte[])image.Clone();
        new CtrlTrigger(magnitude: 0).ApplyTrigger(triggered, 3, 32, 32);
        Assert.Equal(image, triggered);
        var moved = (byte[])image.Clone();
        new CtrlTrigger(magnitude: 100).ApplyTrigger(moved, 3, 32, 32);
        Assert.NotEqual(image, moved);
    }

    [Fact]
    public void TriggerMatchesTheNumPyReference()
    {
        var fixture = SafetensorsFixture.Load("ctrl.safetensors");
        var images = fixture.F32("images").ToArray();
        int size = 3 * 32 * 32, count = images.Length / size;
        // The DCT alone, on the first image's U plane.
        var u = new double[32 * 32];
        for (int i = 0; i < u.Length; i++) u[i] = -0.147 * images[i] - 0.289 * images[1024 + i] + 0.436 * images[2048 + i];
        new BlockDct(32).Forward(u);
        var expectedDct = fixture.F32("dct_u").ToArray();
        for (int i = 0; i < u.Length; i++) Assert.Equal(expectedDct[i], u[i], Math.Max(1e-3, Math.Abs(expectedDct[i]) * 1e-6));

        foreach (var magnitude in new[] { 0.0, 100.0, 200.0 })
        {
            var trigger = new CtrlTrigger(magnitude);
            var expected = fixture.F32($"m{magnitude:g}.output").ToArray();
            var expectedBytes = fixture.F32($"m{magnitude:g}.bytes").ToArray();
            for (int n = 0; n < count; n++)
            {
                var output = trigger.Apply(images.AsSpan(n * size, size), 32, 32);
                for (int i = 0; i < size; i++) Assert.Equal(expected[n * size + i], output[i], 1e-6f);
                var bytes = images.Skip(n * size).Take(size).Select(v => (byte)v).ToArray();
                trigger.ApplyTrigger(bytes, 3, 32, 32);
                Assert.Equal(expectedBytes.Skip(n * size).Take(size).Select(v => (byte)v), bytes);
            }
        }
    }

    [Fact]
    public void ShapesTheTriggerCannotTileAreRefused()
    {
        var trigger = new CtrlTrigger();
        Assert.Contains("RGB", Assert.Throws<ArgumentException>(() => trigger.ApplyTrigger(new byte[32 * 32], 1, 32, 32)).Message);
        Assert.Contains("must tile the image", Assert.Throws<ArgumentException>(() => trigger.ApplyTrigger(new byte[3 * 30 * 30], 3, 30, 30)).Message);
        Assert.Throws<ArgumentException>(() => new CtrlTrigger(positions: [32]));
        Assert.Equal("ctrl (magnitude 100, window 32, UV at (15,15) (31,31))", trigger.Describe());
    }
}
