using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

public class ForwardTests
{
    /// <summary>Every architecture at a small width on 1- and 3-channel inputs of a size it accepts.</summary>
    public static TheoryData<string, int, int> Cases() => new()
    {
        { "mlp", 1, 28 }, { "mlp", 3, 32 },
        { "cnn-small", 1, 28 }, { "cnn-small", 3, 32 },
        { "vgg11", 1, 32 }, { "vgg16", 3, 32 }, { "vgg19", 3, 40 },
        { "preact-resnet18", 1, 28 }, { "preact-resnet18", 3, 32 },
        { "resnet18", 1, 28 }, { "resnet18", 3, 32 },
        { "airnet", 1, 28 }, { "airnet", 3, 32 }, { "airnet", 3, 9 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ProducesLogitsInEvalAndReportsEveryBatchNormOnceInTraining(string name, int channels, int size)
    {
        var arch = Architectures.Create(new ArchitectureConfig(name, channels, size, size, 7, 0.125));
        var p = arch.Initialize(new Random(5));
        var before = p.Clone();
        var x = Tensor.Randn(new Random(6), 2, channels, size, size);

        using (GradMode.Disable())
        {
            var logits = arch.Forward(p, x, ForwardContext.Eval());
            Assert.Equal([2, 7], logits.Shape);
            Assert.All(logits.ToArray(), v => Assert.True(float.IsFinite(v)));
        }

        var observer = new RecordingObserver();
        var train = arch.Forward(p, x, ForwardContext.Train(observer, new Random(0)));
        Assert.Equal([2, 7], train.Shape);
        var bnPrefixes = arch.Tensors.Where(t => t.Name.EndsWith(".running_mean")).Select(t => t.Name[..^".running_mean".Length]);
        Assert.Equal(bnPrefixes.Order(), observer.Prefixes.Order());
        Assert.All(p, e => Assert.Equal(before[e.Name].ToArray(), e.Tensor.ToArray()));
    }

    [Theory]
    [InlineData("cnn-small")]
    [InlineData("preact-resnet18")]
    [InlineData("resnet18")]
    [InlineData("vgg11")]
    public void EvalInPlaceBatchNormGivesTheSameLogitsAsTheGraphPath(string name)
    {
        var arch = Architectures.Create(new ArchitectureConfig(name, 3, 32, 32, 10, 0.125));
        var p = arch.Initialize(new Random(3));
        foreach (var e in p.Where(e => e.Name.EndsWith(".running_var")))
            foreach (ref var v in e.Tensor.Span) v = 0.5f + v;   // running statistics other than the identity
        var x = Tensor.Randn(new Random(4), 3, 3, 32, 32);
        var seenInPlace = new CopyingObserver();
        float[] inPlace;
        using (GradMode.Disable()) inPlace = arch.Forward(p, x, new ForwardContext { ActivationObserver = seenInPlace }).ToArray();
        // With gradients on, the convolution outputs are part of a graph and BN must not overwrite them.
        var input = x.Clone(requiresGrad: true);
        var seenViaGraph = new CopyingObserver();
        var viaGraph = arch.Forward(p, input, new ForwardContext { ActivationObserver = seenViaGraph });
        Assert.True(viaGraph.RequiresGrad);
        Assert.Equal(inPlace, viaGraph.ToArray());
        // Observers still see each convolution's output before the normalisation.
        Assert.Equal(seenViaGraph.Outputs.Keys.Order(), seenInPlace.Outputs.Keys.Order());
        foreach (var (prefix, values) in seenViaGraph.Outputs) Assert.Equal(values, seenInPlace.Outputs[prefix]);
    }

    private sealed class CopyingObserver : IActivationObserver
    {
        public Dictionary<string, float[]> Outputs { get; } = [];
        public void Observe(string prefix, Tensor output) => Outputs[prefix] = output.ToArray();
    }

    [Fact]
    public void TrainingForwardBackpropagatesToEveryParameter()
    {
        var arch = Architectures.Create(new ArchitectureConfig("preact-resnet18", 3, 16, 16, 5, 0.0625));
        var p = arch.Initialize(new Random(1));
        var logits = arch.Forward(p, Tensor.Randn(new Random(2), 3, 3, 16, 16), ForwardContext.Train(null, new Random(0)));
        Op.Sum(Op.Square(logits)).Backward();
        foreach (var e in p.Parameters)
            Assert.True(e.Tensor.Grad is not null && e.Tensor.Grad.ToArray().Any(g => g != 0f), $"no gradient reached {e.Name}");
    }

    [Fact]
    public void WrongInputShapesAreRejected()
    {
        var cnn = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 32, 32, 10, 0.25));
        var p = cnn.Initialize(new Random(0));
        var e = Assert.Throws<ArgumentException>(() => cnn.Forward(p, Tensor.Zeros(1, 1, 32, 32), ForwardContext.Eval()));
        Assert.Contains("(N, 3, H, W)", e.Message);
        e = Assert.Throws<ArgumentException>(() => cnn.Forward(p, Tensor.Zeros(1, 3, 28, 28), ForwardContext.Eval()));
        Assert.Contains("32×32", e.Message);

        var vgg = Architectures.Create(new ArchitectureConfig("vgg11", 3, 32, 32, 10, 0.125));
        e = Assert.Throws<ArgumentException>(() => vgg.Forward(vgg.Initialize(new Random(0)), Tensor.Zeros(1, 3, 16, 16), ForwardContext.Eval()));
        Assert.Contains("at least 32×32", e.Message);
    }

    private sealed class RecordingObserver : IBatchNormObserver
    {
        public List<string> Prefixes { get; } = new();

        public void Observe(string prefix, BatchStatistics stats)
        {
            Assert.Equal(stats.Mean.Length, stats.UnbiasedVar.Length);
            Prefixes.Add(prefix);
        }
    }
}
