using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

/// <summary>airbench's TTA levels against hand-made views and its formula.</summary>
public class TestTimeAugmentationTests
{
    [Fact]
    public void OnePixelTranslationsAreTheCropsOfTheReflectPaddedImage()
    {
        // 1 2 3 / 4 5 6 / 7 8 9 padded by reflection is
        // 5 4 5 6 5 / 2 1 2 3 2 / 5 4 5 6 5 / 8 7 8 9 8 / 5 4 5 6 5; its crops at (0, 0) and (2, 2):
        var x = Tensor.FromArray([1f, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, 3, 3);
        Assert.Equal(new[] { 5f, 4, 5, 2, 1, 2, 5, 4, 5 }, TestTimeAugmentation.Shift(x, 1, 1, flip: false).ToArray());
        Assert.Equal(new[] { 5f, 6, 5, 8, 9, 8, 5, 6, 5 }, TestTimeAugmentation.Shift(x, -1, -1, flip: false).ToArray());
        Assert.Equal(new[] { 3f, 2, 1, 6, 5, 4, 9, 8, 7 }, TestTimeAugmentation.Shift(x, 0, 0, flip: true).ToArray());
    }

    [Fact]
    public void LevelsZeroOneTwoFollowTheFormula()
    {
        var net = Architectures.Create(new ArchitectureConfig("mlp", 2, 5, 5, 3, 0.25));
        var parameters = net.Initialize(new Random(1));
        var x = Tensor.Randn(new Random(2), 4, 2, 5, 5);
        using var noGrad = GradMode.Disable();
        var eval = ForwardContext.Eval();
        float[] F(Tensor input) => net.Forward(parameters, input, eval).ToArray();
        float[] Mirror(Tensor input) => Combine(0.5f, F(input), 0.5f, F(TestTimeAugmentation.Shift(input, 0, 0, true)));

        Assert.Equal(F(x), TestTimeAugmentation.Logits(net, parameters, x, eval, 0).ToArray());
        AssertClose(Mirror(x), TestTimeAugmentation.Logits(net, parameters, x, eval, 1).ToArray());
        var translated = Combine(0.5f, Mirror(TestTimeAugmentation.Shift(x, 1, 1, false)), 0.5f, Mirror(TestTimeAugmentation.Shift(x, -1, -1, false)));
        AssertClose(Combine(0.5f, Mirror(x), 0.5f, translated), TestTimeAugmentation.Logits(net, parameters, x, eval, 2).ToArray());
        // The levels differ on a network that is not flip-invariant.
        Assert.NotEqual(F(x), TestTimeAugmentation.Logits(net, parameters, x, eval, 1).ToArray());
    }

    private static float[] Combine(float a, float[] x, float b, float[] y) => x.Select((v, i) => a * v + b * y[i]).ToArray();

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }
}
