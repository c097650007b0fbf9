using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Parity;

/// <summary>
/// `--recipe airbench` against airbench94's recipe as airbench itself writes it (Fixtures/airbench_recipe.safetensors,
/// tools/fixtures/make_recipe_fixture.py): summed loss with its own rate and decay formulas, SGD parameter groups,
/// requires_grad toggling for the whitening bias, LambdaLR's triangle and its lookahead, twelve full-batch steps of a
/// tiny airnet. Ours keeps the mean loss and converts the rates; if the conversion, a group, a freeze, the schedule or
/// the lookahead differ, the weights after twelve steps differ.
/// </summary>
public sealed class AirbenchRecipeParityTests
{
    private const string File = "airbench_recipe.safetensors";

    private static (SafetensorsFixture Fx, IArchitecture Net, System.Text.Json.JsonElement Case) Setup(string name)
    {
        var fx = SafetensorsFixture.Load(File);
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        int size = int.Parse(fx.Metadata["size"], culture);
        var net = Architectures.Create(new ArchitectureConfig("airnet", 3, size, size, int.Parse(fx.Metadata["classes"], culture),
            double.Parse(fx.Metadata["width"], culture)));
        return (fx, net, System.Text.Json.JsonDocument.Parse(fx.Metadata["cases"]).RootElement.GetProperty(name));
    }

    private static ParameterSet Load(SafetensorsFixture fx, IArchitecture net, string prefix)
    {
        var set = net.Initialize(new Random(0));
        foreach (var spec in net.Tensors) fx.F32(prefix + spec.Name).Span.CopyTo(set[spec.Name].Span);
        return set;
    }

    /// <summary>full: one batch an epoch, 12 steps. batches: four in-order batches an epoch, 3.5 epochs = 14 steps.</summary>
    [Theory]
    [InlineData("full")]
    [InlineData("batches")]
    public void RecipeStepsEndWhereAirbenchsOwnRecipeEnds(string name)
    {
        var (fx, net, c) = Setup(name);
        int batch = c.GetProperty("batch").GetInt32(), images = c.GetProperty("images").GetInt32(), steps = c.GetProperty("steps").GetInt32();
        double epochs = c.GetProperty("epochs").GetDouble();
        var parameters = Load(fx, net, $"{name}.init.");
        var config = TrainingRecipes.Apply(TrainingRecipes.Airbench, new TrainingConfig { Architecture = "airnet", WidthMultiplier = 0.0625 }, batchSize: batch)
            with { Epochs = epochs };
        var input = fx.F32("input");
        int imageSize = input.Length / input.Shape[0];
        var source = new TensorBatchSource(input.ToArray()[..(images * imageSize)], fx.Labels("labels")[..images], [.. input.Shape.Skip(1)], batch, shuffleSeed: null);
        var losses = new List<double>();
        var trainer = new Trainer(net, parameters, config, Factories.CreateRunningStats(config, parameters));
        // Progress carries the running mean over the epoch so far; undo it to get each step's own loss.
        double runningMean = 0;
        trainer.Progress += p =>
        {
            losses.Add(p.Batch == 1 ? p.Loss : p.Loss * p.Batch - runningMean * (p.Batch - 1));
            runningMean = p.Loss;
        };
        var result = trainer.Train(source);

        Assert.Equal(steps, result.Steps);
        for (int k = 1; k <= steps; k++)
        {
            double theirs = fx.F32($"{name}.loss.{k}").Span[0];
            Assert.True(Math.Abs(losses[k - 1] - theirs) < 1e-4 * Math.Max(1, Math.Abs(theirs)), $"step {k}: loss {losses[k - 1]:G7}, airbench {theirs:G7}");
        }
        foreach (var spec in net.Tensors)
            Parity.Close($"'{spec.Name}' after {steps} steps", parameters[spec.Name], fx.F32($"{name}.final.{spec.Name}"));
    }

    /// <summary>Our patch whitening of the fixture's images equals airbench's up to each eigenvector's sign (which LAPACK and Jacobi choose freely).</summary>
    [Fact]
    public void WhiteningEqualsAirbenchsUpToEachEigenvectorsSign()
    {
        var (fx, _, _) = Setup("full");
        var input = fx.F32("input");
        var first64 = new Tensor([64, .. input.Shape.Skip(1)], input.ToArray()[..(64 * (input.Length / input.Shape[0]))]);
        var ours = AirNetWhitening.Fit(first64, AirNet.WhiteningKernel).ToArray();
        var theirs = fx.F32("full.whiten.weight").ToArray();
        const int d = 12;
        Assert.Equal(2 * d * d, theirs.Length);
        for (int i = 0; i < d; i++)
        {
            var a = ours.AsSpan(i * d, d).ToArray();
            var b = theirs.AsSpan(i * d, d).ToArray();
            double sign = a.Zip(b, (x, y) => (double)x * y).Sum() >= 0 ? 1 : -1;
            Parity.Close($"whitening filter {i}", a.Select(x => (float)(sign * x)).ToArray(), b);
        }
    }
}
