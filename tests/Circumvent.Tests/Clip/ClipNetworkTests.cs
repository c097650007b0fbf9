using Circumvent.Data.Text;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Permutations;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Data;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Clip;

/// <summary>
/// The small CLIP's layout (PyTorch-style names, the logit scale's start), its one-file checkpoint, and TSC's invariant on
/// it: permuting the image tower by its spec leaves the zero-shot logits unchanged, and a broken wiring (the stream feeding
/// the joint projection permuted while the projection's columns stay) does not.
/// </summary>
public class ClipNetworkTests
{
    private static readonly string[] Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
    private static readonly CaptionSet Captions = CaptionSet.ForClasses(Classes);

    internal static ClipNetwork Network(string name = "resnet18", int size = 8, double width = 0.0625) =>
        new((IFeatureExtractor)Architectures.Create(new ArchitectureConfig(name, 3, size, size, 10, width)), Captions.Vocabulary.Count, textWidth: 12, joint: 6);

    internal static ParameterSet Weights(ClipNetwork network, int seed)
    {
        var rng = new Random(seed);
        return TestData.WithRandomRunningStatistics(network.Initialize(rng), rng);
    }

    private static Tensor Images(int count, int size, int seed) => TestData.UniformImages(count, size, seed);

    private static float[] ZeroShotLogits(ZeroShotClassifier classifier, ParameterSet image, Tensor x)
    {
        using var noGrad = GradMode.Disable();
        return classifier.Forward(image, x, ForwardContext.Eval()).ToArray();
    }

    [Fact]
    public void TensorsAreNamedAsCLIPsAndTheScaleStartsAtOneOverPointZeroSeven()
    {
        var network = Network();
        var names = network.Tensors.Select(t => t.Name).ToList();
        Assert.Contains("visual.conv1.weight", names);
        Assert.Contains("visual.proj.weight", names);
        Assert.DoesNotContain(names, n => n.StartsWith("visual.linear", StringComparison.Ordinal)); // the backbone's classifier head is dropped
        Assert.Contains(ClipTextTower.EmbeddingName, names);
        Assert.Equal("logit_scale", names[^1]);
        Assert.Empty(network.Tensors.Single(t => t.Name == "logit_scale").Shape);
        var weights = network.Initialize(new Random(1));
        Assert.Equal(MathF.Log(1 / 0.07f), weights["logit_scale"].Item(), 5);
        Assert.Equal([Captions.Vocabulary.Count, 12], weights[ClipTextTower.EmbeddingName].Shape.ToArray());
        using var noGrad = GradMode.Disable();
        Assert.Equal([2, 6], network.Forward(weights, Images(2, 8, 3), ForwardContext.Eval()).Shape.ToArray());
        var bag = new Tensor([3, Captions.Vocabulary.Count], Captions.BagOfWords(Captions.Prompts()[..3]));
        Assert.Equal([3, 6], network.EncodeText(weights, bag).Shape.ToArray());
    }

    [Fact]
    public void BothTowersAndTheScaleRoundTripThroughOneFile()
    {
        var network = Network();
        var weights = Weights(network, 4);
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "clip.safetensors");
        new ModelCheckpoint { Architecture = network.Config, Network = network, Parameters = weights }.Save(path);
        var back = ModelCheckpoint.Load(path);
        Assert.Equal(ModelCheckpoint.ClipRole, back.Extra[ModelCheckpoint.RoleKey]);
        var clip = Assert.IsType<ClipNetwork>(back.Network);
        Assert.Equal(6, clip.Image.Joint);
        Assert.Equal(12, clip.Text.Width);
        foreach (var e in weights) Assert.Equal(e.Tensor.ToArray(), back.Parameters[e.Name].ToArray());

        string towerPath = Path.Combine(folder.Path, "tower.safetensors");
        new ModelCheckpoint { Architecture = network.Config, Network = network.Image, Parameters = ClipImageTower.View(weights) }.Save(towerPath);
        Assert.IsType<ClipImageTower>(ModelCheckpoint.Load(towerPath).Network);
    }

    [Theory]
    [InlineData("resnet18", 8, 0.0625)]
    [InlineData("cnn-small", 32, 0.125)]
    public void PermutingTheImageTowerLeavesZeroShotLogitsUnchanged(string name, int size, double width)
    {
        var network = Network(name, size, width);
        var weights = Weights(network, 7);
        var classifier = ZeroShotClassifier.For(network, weights, Captions);
        var image = ClipImageTower.View(weights);
        var x = Images(4, size, 9);
        var before = ZeroShotLogits(classifier, image, x);

        var spec = PermutationSpecs.For(network.Image);
        var axes = spec.Groups.SelectMany(g => g.Axes).ToList();
        Assert.DoesNotContain(axes, a => a.Tensor.StartsWith("text.", StringComparison.Ordinal) || a.Tensor == "logit_scale");
        // The joint space keeps its order: visual.proj is only read along its input axis (its columns follow the last stream).
        Assert.All(axes.Where(a => a.Tensor == "visual.proj.weight"), a => Assert.Equal(1, a.Axis));
        Assert.Contains(axes, a => a.Tensor == "visual.proj.weight");
        var permuted = PermutationSpecs.ApplyRandom(network.Image, image, new Random(11));
        Assert.Contains(image, e => !e.Tensor.ToArray().SequenceEqual(permuted[e.Name].ToArray()));
        var after = ZeroShotLogits(classifier, permuted, x);
        for (int i = 0; i < before.Length; i++) Assert.True(Math.Abs(before[i] - after[i]) < 1e-3, $"logit {i}: {before[i]} vs {after[i]}");
    }

    [Fact]
    public void PermutingTheStreamIntoTheJointProjectionChangesTheLogits()
    {
        // The purpose-broken wiring: the backbone's last stream permuted, with visual.proj's columns left as they were.
        var network = Network();
        var weights = Weights(network, 7);
        var classifier = ZeroShotClassifier.For(network, weights, Captions);
        var image = ClipImageTower.View(weights);
        var x = Images(4, 8, 9);
        var broken = PermutationSpecs.For(network.Image.Backbone).Prefixed(ClipImageTower.Prefix);
        // That spec also reorders the backbone's own head, which a tower has not: a stand-in takes the reordering.
        var head = network.Image.Backbone.Tensors.Single(t => t.Name == network.Image.Backbone.HeadName + ".weight");
        var withHead = new ParameterSet();
        foreach (var e in image) withHead.Add(e.Name, e.Tensor, e.Role);
        withHead.Add(ClipImageTower.Prefix + head.Name, Tensor.Zeros(head.Shape), TensorRole.Parameter);
        var permuted = Permutation.Apply(withHead, broken, Permutation.Random(broken, new Random(11)));
        var before = ZeroShotLogits(classifier, image, x);
        var after = ZeroShotLogits(classifier, permuted, x);
        Assert.True(before.Zip(after).Max(p => Math.Abs(p.First - p.Second)) > 1e-2, "the broken wiring went unnoticed");
    }
}
