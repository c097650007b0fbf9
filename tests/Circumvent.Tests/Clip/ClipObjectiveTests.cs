using Circumvent.Data.Loading;
using Circumvent.Data.Text;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Clip;

/// <summary>
/// ClipObjective pairs each image with the caption of its dataset index and label, takes the text side from the trained
/// text tower (pre-training) or from the frozen one at a fixed scale (TSC), and clamps a trained logit scale at ln 100.
/// </summary>
public class ClipObjectiveTests
{
    private static readonly CaptionSet Captions = CaptionSet.ForClasses(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]);

    private static Batch MakeBatch(int seed)
    {
        var rng = new Random(seed);
        var images = Tensor.FromArray([.. Enumerable.Range(0, 4 * 3 * 8 * 8).Select(_ => (float)(rng.NextDouble() * 2 - 1))], 4, 3, 8, 8);
        return new Batch(images, [9, 0, 0, 3], [5, 8, 17, 2]);
    }

    // The loss by hand: the captions of (index, label), text through the tower at the given weights, scale exp(logit_scale).
    private static float Expected(ClipNetwork network, ParameterSet weights, Batch batch)
    {
        using var noGrad = GradMode.Disable();
        string[] captions = [.. batch.Indices.Select((index, i) => Captions.Caption(index, batch.Labels[i]))];
        var text = network.EncodeText(weights, new Tensor([4, Captions.Vocabulary.Count], Captions.BagOfWords(captions)));
        var image = network.Forward(weights, batch.Images, ForwardContext.Eval());
        return Op.ClipLoss(image, text, Op.Exp(weights[ClipNetwork.LogitScaleName])).Item();
    }

    [Fact]
    public void JointLossIsTheInfoNceOfEachImagesOwnCaption()
    {
        var network = ClipNetworkTests.Network();
        var weights = ClipNetworkTests.Weights(network, 3);
        using var batch = MakeBatch(1);
        var loss = ClipObjective.Joint(network, Captions, weights).Loss(network, weights, batch, ForwardContext.Eval()).Loss.Item();
        Assert.Equal(Expected(network, weights, batch), loss, 5);
        // A different caption rule (the labels shifted) gives a different loss: the test can tell.
        using var shifted = new Batch(batch.Images, [.. batch.Labels.Select(l => (l + 1) % 10)], batch.Indices);
        Assert.NotEqual(Expected(network, weights, shifted), loss, 3);
    }

    [Fact]
    public void FrozenTextGivesTheSameLossOnTheImageTowerAloneAndGradientsOnlyThere()
    {
        var network = ClipNetworkTests.Network();
        var weights = ClipNetworkTests.Weights(network, 3);
        weights[ClipNetwork.LogitScaleName].Data[0] = 2.0f;
        using var batch = MakeBatch(2);
        var objective = ClipObjective.FrozenText(network, weights, Captions);
        Assert.Equal(MathF.Exp(2.0f), objective.FixedScale, 4);
        var image = ClipImageTower.View(weights).Clone(requiresGrad: true);
        var loss = objective.Loss(network.Image, image, batch, ForwardContext.Eval()).Loss;
        Assert.Equal(Expected(network, weights, batch), loss.Item(), 4);
        loss.Backward();
        Assert.All(image.Parameters, p => Assert.NotNull(p.Tensor.Grad));
        Assert.DoesNotContain(image.Names, n => !n.StartsWith(ClipImageTower.Prefix, StringComparison.Ordinal));
    }

    [Fact]
    public void TheTrainedLogitScaleIsClampedAtLnHundredAfterAStep()
    {
        var network = ClipNetworkTests.Network();
        var weights = network.Initialize(new Random(1));
        var objective = ClipObjective.Joint(network, Captions, weights);
        weights[ClipNetwork.LogitScaleName].Data[0] = 5f;
        objective.AfterStep(1e-3);
        Assert.Equal(MathF.Log(100f), weights[ClipNetwork.LogitScaleName].Item(), 6);
        weights[ClipNetwork.LogitScaleName].Data[0] = 3f;
        objective.AfterStep(1e-3);
        Assert.Equal(3f, weights[ClipNetwork.LogitScaleName].Item());
    }

    [Fact]
    public void ATextTowerOfAnotherVocabularyIsRefused()
    {
        var network = new ClipNetwork((IFeatureExtractor)Architectures.Create(new ArchitectureConfig("resnet18", 3, 8, 8, 10, 0.0625)), vocabulary: 7);
        Assert.Contains("vocabulary of 7", Assert.Throws<ArgumentException>(() => ClipObjective.Joint(network, Captions, network.Initialize(new Random(1)))).Message);
    }
}
