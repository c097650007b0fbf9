using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

/// <summary>The SimCLR network: the authors' head and state_dict names on any feature extractor; its encoder is the classifier minus its head.</summary>
public class SimClrNetworkTests
{
    private static readonly ArchitectureConfig ResNet = new("resnet18", 3, 8, 8, 10, 0.0625);

    [Fact]
    public void NamesAreTheEncodersUnderFThenTheAuthorsHead()
    {
        var encoder = (IFeatureExtractor)Architectures.Create(ResNet);
        var network = new SimClrNetwork(encoder);
        var names = network.Tensors.Select(t => t.Name).ToList();
        Assert.Equal(32, encoder.FeatureSize); // 512 · 1/16
        Assert.Equal(encoder.Tensors.Count - 2 + 7, names.Count); // the head's two out, g's seven in
        Assert.Contains("f.conv1.weight", names);
        Assert.Contains("f.layer4.1.bn2.running_var", names);
        Assert.DoesNotContain(names, n => n.StartsWith("f.linear", StringComparison.Ordinal));
        Assert.Equal(["g.0.weight", "g.1.weight", "g.1.bias", "g.1.running_mean", "g.1.running_var", "g.3.weight", "g.3.bias"], names.TakeLast(7));
        Assert.Equal([512, 32], network.Tensors.Single(t => t.Name == "g.0.weight").Shape);
        Assert.Equal([128, 512], network.Tensors.Single(t => t.Name == "g.3.weight").Shape);
        var parameters = network.Initialize(new Random(1));
        Assert.Equal(names, parameters.Names);
    }

    [Fact]
    public void FeaturesAreTheClassifiersInputAndTheProjectionHas128Values()
    {
        var encoder = (IFeatureExtractor)Architectures.Create(ResNet);
        var network = new SimClrNetwork(encoder);
        var classifierWeights = encoder.Initialize(new Random(2));
        var parameters = network.Initialize(new Random(3));
        foreach (var e in classifierWeights)
            if (encoder.IsEncoderTensor(e.Name)) e.Tensor.Span.CopyTo(parameters["f." + e.Name].Span);
        var x = Tensor.Randn(new Random(4), 5, 3, 8, 8);
        var context = ForwardContext.Eval();
        var features = network.Features(parameters, x, context);
        Assert.Equal(encoder.Features(classifierWeights, x, context).ToArray(), features.ToArray());
        // The classifier's logits are its head on those features.
        var logits = Op.Linear(features, classifierWeights["linear.weight"], classifierWeights["linear.bias"]);
        Assert.Equal(encoder.Forward(classifierWeights, x, context).ToArray(), logits.ToArray());
        Assert.Equal([5, 128], network.Forward(parameters, x, context).Shape.ToArray());
    }

    [Fact]
    public void TrainingForwardReportsBatchStatisticsUnderTheRunsNames()
    {
        var network = new SimClrNetwork((IFeatureExtractor)Architectures.Create(ResNet));
        var parameters = network.Initialize(new Random(1));
        var stats = new RunningStatsUpdater(parameters);
        network.Forward(parameters, Tensor.Randn(new Random(2), 4, 3, 8, 8), ForwardContext.Train(stats, new Random(0)));
        Assert.Equal(1, stats.BatchesTracked["f.bn1"]);
        Assert.Equal(1, stats.BatchesTracked["g.1"]);
        Assert.NotEqual(0f, parameters["f.bn1.running_mean"].Span[0]);
    }

    [Fact]
    public void NetworksWithoutASingleLinearHeadAreNoFeatureExtractors()
    {
        Assert.False(Architectures.Create(new ArchitectureConfig("mlp", 3, 8, 8, 10)) is IFeatureExtractor);
        Assert.True(Architectures.Create(new ArchitectureConfig("preact-resnet18", 3, 8, 8, 10, 0.0625)) is IFeatureExtractor);
    }
}
