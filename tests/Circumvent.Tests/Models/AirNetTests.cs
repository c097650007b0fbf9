using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Models;

public class AirNetTests
{
    private static IArchitecture Create(int channels = 3, int size = 32, double width = 1.0) =>
        Architectures.Create(new ArchitectureConfig("airnet", channels, size, size, 10, width));

    private static int[] ShapeOf(IArchitecture a, string name) => a.Tensors.Single(t => t.Name == name).Shape;

    [Fact]
    public void LayoutIsAirbench94s()
    {
        var a = Create();
        // airbench reports 1.97M parameters; trainable count of its make_net() is 1,972,792.
        Assert.Equal(1_972_792, a.Tensors.Where(t => t.Role == TensorRole.Parameter).Sum(t => (long)Shape.Size(t.Shape)));
        Assert.Equal(["0.weight", "0.bias", "2.conv1.weight", "2.norm1.weight", "2.norm1.bias", "2.norm1.running_mean",
            "2.norm1.running_var", "2.conv2.weight"], a.Tensors.Take(8).Select(t => t.Name));
        Assert.Equal([24, 3, 2, 2], ShapeOf(a, "0.weight"));
        Assert.Equal([256, 64, 3, 3], ShapeOf(a, "3.conv1.weight"));
        Assert.Equal(["7.weight"], a.Tensors.TakeLast(1).Select(t => t.Name)); // bias-free head
        Assert.Equal([10, 256], ShapeOf(a, "7.weight"));
    }

    [Fact]
    public void WidthScalesTheGroupsButNotTheWhiteningConv()
    {
        var a = Create(channels: 1, width: 0.5);
        Assert.Equal([8, 1, 2, 2], ShapeOf(a, "0.weight")); // ± the 1·2·2 patch directions
        Assert.Equal([32, 8, 3, 3], ShapeOf(a, "2.conv1.weight"));
        Assert.Equal([128, 128, 3, 3], ShapeOf(a, "4.conv2.weight"));
        Assert.Equal([10, 128], ShapeOf(a, "7.weight"));
    }

    [Fact]
    public void ConvsStartAsIdentityFiltersAndTheWhiteningBiasAtZero()
    {
        var a = Create(width: 0.125); // groups 8/32/32, so 2.conv1 (8, 24) has fewer filters than inputs
        var p = a.Initialize(new Random(1));
        Assert.All(p["0.bias"].ToArray(), v => Assert.Equal(0f, v));
        AssertIdentityFilters(p["2.conv1.weight"], count: 8);
        AssertIdentityFilters(p["3.conv1.weight"], count: 8);   // (32, 8): the first 8 filters
        AssertIdentityFilters(p["3.conv2.weight"], count: 32);
        // Filters past the input count keep PyTorch's uniform draw.
        var rest = p["3.conv1.weight"].ToArray().Skip(8 * 8 * 9).ToArray();
        Assert.Contains(rest, v => v != 0f);
        Assert.All(rest, v => Assert.InRange(v, -1f / MathF.Sqrt(72), 1f / MathF.Sqrt(72)));
    }

    private static void AssertIdentityFilters(Tensor weight, int count)
    {
        int inC = weight.Shape[1], k = weight.Shape[2], filter = inC * k * k;
        var w = weight.ToArray();
        for (int o = 0; o < count; o++)
            for (int j = 0; j < filter; j++)
                Assert.Equal(j == o * k * k + (k / 2) * k + k / 2 ? 1f : 0f, w[o * filter + j]);
    }

    [Fact]
    public void ScaledHeadAndGlobalMaxPoolGiveTheLogits()
    {
        // With every group's output known, the logits are (1/9)·W·max over the final map.
        var a = Create(size: 16, width: 0.0625);
        var p = a.Initialize(new Random(2));
        var x = Tensor.Randn(new Random(3), 2, 3, 16, 16);
        Tensor? last = null;
        var observer = new LastConvObserver(o => last = o);
        using var _ = GradMode.Disable();
        var logits = a.Forward(p, x, new ForwardContext { ActivationObserver = observer });
        Assert.NotNull(last);
        // Reapply norm2 + GELU of the last group (eval mode) to the observed conv output, max-pool, head.
        var h = Op.Gelu(Layers.BatchNorm(p, "4.norm2", last!, ForwardContext.Eval(), AirNet.BatchNormEps));
        int c = h.Shape[1], hw = h.Shape[2] * h.Shape[3];
        var w = p["7.weight"].ToArray();
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 10; k++)
            {
                double sum = 0;
                for (int ch = 0; ch < c; ch++)
                    sum += w[k * c + ch] * h.Data.Skip((n * c + ch) * hw).Take(hw).Max();
                Assert.Equal(sum / 9, logits.Data[n * 10 + k], 5);
            }
    }

    [Fact]
    public void FeaturesAreTheGlobalMaxTheHeadReads()
    {
        // As a feature extractor (FP, probes, SimCLR encoders): features = the pooled final map, and the logits are
        // (1/9)·W·features, with the head left out of the encoder's tensors.
        var a = (IFeatureExtractor)Create(size: 16, width: 0.0625);
        var p = a.Initialize(new Random(4));
        var x = Tensor.Randn(new Random(5), 3, 3, 16, 16);
        using var _ = GradMode.Disable();
        var features = a.Features(p, x, ForwardContext.Eval());
        var logits = a.Forward(p, x, ForwardContext.Eval());
        Assert.Equal("7", a.HeadName);
        Assert.Equal([3, 16], features.Shape.ToArray());
        Assert.Equal(16, a.FeatureSize);
        Assert.False(a.IsEncoderTensor("7.weight"));
        Assert.True(a.IsEncoderTensor("4.conv2.weight"));
        var w = p["7.weight"].ToArray();
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < 10; k++)
            {
                double sum = 0;
                for (int f = 0; f < 16; f++) sum += w[k * 16 + f] * features.Data[n * 16 + f];
                Assert.Equal(sum * AirNet.LogitScale, logits.Data[n * 10 + k], 5);
            }
    }

    private sealed class LastConvObserver(Action<Tensor> onLast) : IActivationObserver
    {
        public void Observe(string prefix, Tensor output)
        {
            if (prefix == "4.conv2") onLast(output.Clone());
        }
    }

    [Fact]
    public void InputsSmallerThanNineAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Create(size: 8));
        Assert.Contains("9×9", e.Message);
        Assert.NotNull(Create(size: 9));
    }

    /// <summary>Images with correlated channels and neighbouring pixels, so the patch covariance is far from I.</summary>
    private static Tensor CorrelatedImages(int seed, int n, int size)
    {
        var noise = Tensor.Randn(new Random(seed), n, 3, size + 1, size + 1).Data;
        var x = Tensor.Zeros(n, 3, size, size);
        float[,] mix = { { 1f, 0.5f, 0.2f }, { 0.3f, 2f, 0.1f }, { 0f, 0.6f, 0.5f } };
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < size; y++)
                    for (int xo = 0; xo < size; xo++)
                    {
                        float v = 0.3f; // a mean: the second moment is not centred, as in airbench
                        for (int s = 0; s < 3; s++)
                        {
                            int at = (i * 3 + s) * (size + 1) * (size + 1) + y * (size + 1) + xo;
                            v += mix[c, s] * (noise[at] + 0.8f * noise[at + 1] + 0.5f * noise[at + size + 1]);
                        }
                        x.Data[((i * 3 + c) * size + y) * size + xo] = v;
                    }
        return x;
    }

    /// <summary>
    /// With ε = 0 the moment is I; with airbench's ε it is diag(λ/(λ + ε)), which these images' smallest
    /// eigenvalue keeps above 0.95.
    /// </summary>
    [Theory]
    [InlineData(0.0, 2e-3)]
    [InlineData(AirNetWhitening.DefaultEps, 5e-2)]
    public void WhiteningGivesPatchesIdentitySecondMomentOnTheImagesItWasFitOn(double eps, double diagonalTolerance)
    {
        var images = CorrelatedImages(4, 40, 10);
        var before = AirNetWhitening.PatchSecondMoment(images, 2);
        Assert.True(before[0, 1] > 0.5, $"the test images should have correlated patches; moment (0, 1) = {before[0, 1]}.");

        var a = Create(size: 10, width: 0.0625);
        var p = a.Initialize(new Random(5));
        AirNetWhitening.Initialize(p, images, eps);

        // The conv without its bias: (N, 24, 9, 9); its first 12 channels' second moment must be ≈ I.
        using var _ = GradMode.Disable();
        var y = Op.Conv2d(images, p["0.weight"], null);
        var moment = ChannelSecondMoment(y);
        for (int i = 0; i < 12; i++)
            for (int j = 0; j < 12; j++)
                Assert.True(Math.Abs(moment[i, j] - (i == j ? 1 : 0)) < (i == j ? diagonalTolerance : 2e-3),
                    $"whitened moment ({i}, {j}) = {moment[i, j]:G5}");
        // Channels 12..23 are the negatives of 0..11.
        var w = p["0.weight"].ToArray();
        for (int j = 0; j < 12 * 12; j++) Assert.Equal(-w[j], w[12 * 12 + j]);
    }

    private static double[,] ChannelSecondMoment(Tensor y)
    {
        int n = y.Shape[0], c = y.Shape[1], hw = y.Shape[2] * y.Shape[3];
        var m = new double[c, c];
        for (int img = 0; img < n; img++)
            for (int s = 0; s < hw; s++)
                for (int i = 0; i < c; i++)
                    for (int j = 0; j < c; j++)
                        m[i, j] += (double)y.Data[(img * c + i) * hw + s] * y.Data[(img * c + j) * hw + s];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++) m[i, j] /= (double)n * hw;
        return m;
    }

    [Fact]
    public void WhiteningRejectsImagesOfTheWrongChannelCount()
    {
        var p = Create(width: 0.0625).Initialize(new Random(6));
        var gray = Tensor.Randn(new Random(7), 2, 1, 10, 10);
        var e = Assert.Throws<ArgumentException>(() => AirNetWhitening.Initialize(p, gray));
        Assert.Contains("(2, 1, 10, 10)", e.Message);
    }

    [Fact]
    public void TrainWithArchAirnetAndWidthWritesAnAirnetCheckpoint()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 64, testCount: 32, size: 16);
        var model = Path.Combine(dir, "airnet.safetensors");
        var train = CliHarness.Run("train", "--arch", "airnet", "--width", "0.0625", "--data", data, "--epochs", "1",
            "--batch-size", "32", "--no-augment", "--out", model);
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        var checkpoint = ModelCheckpoint.Load(model);
        Assert.Equal("airnet", checkpoint.Architecture.Name);
        Assert.Equal([16, 4, 3, 3], checkpoint.Parameters["3.conv1.weight"].Shape);

        var inspect = CliHarness.Run("inspect", model);
        Assert.True(inspect.ExitCode == 0, $"inspect failed: {inspect.Stderr}");
        Assert.Contains("airnet", inspect.Stdout);
    }
}
