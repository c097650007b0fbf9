using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Models;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Method;

/// <summary>
/// Scoring an encoder runs it over every dataset it is scored on. With CIFAR-10 as both the pre-training set and a
/// downstream set, the kNN memory and the probes' training set are the same 50,000 images: they must be extracted once,
/// and the scores must be exactly those of extracting them twice (eval-mode features of the same images and weights).
/// </summary>
public sealed class EncoderFeaturesTests
{
    private static ImageDataset Images(int count, int seed)
    {
        var pixels = new byte[count * 3 * 8 * 8];
        new Random(seed).NextBytes(pixels);
        return new ImageDataset(pixels, [.. Enumerable.Range(0, count).Select(i => i % 2)], 3, 8, 8, ["a", "b"]);
    }

    private static ImageDataset CopyOf(ImageDataset data) =>
        new(data.Pixels.ToArray(), data.Labels.ToArray(), data.Channels, data.Height, data.Width, data.ClassNames);

    private static (SimClrNetwork Network, ParameterSet Weights) Encoder()
    {
        var network = new SimClrNetwork((IFeatureExtractor)Architectures.Create(new ArchitectureConfig("resnet18", 3, 8, 8, 2, 0.0625)), hidden: 16, projection: 8);
        return (network, network.Initialize(new Random(1)));
    }

    private static readonly ProbeOptions Probe = new() { Epochs = 3, BatchSize = 8 };

    [Fact]
    public void ImagesThatAreBothKnnMemoryAndProbeTrainingAreExtractedOnceWithTheSameScores()
    {
        var (network, weights) = Encoder();
        var train = Images(32, 1);
        var set = new EncoderTestSet
        {
            Normalization = Normalization.Identity(3),
            KnnMemory = train, KnnQueries = Images(16, 2),
            DownstreamTrain = train, DownstreamTest = Images(16, 3),
        };
        var shared = new EncoderFeatures(network, weights, set.Normalization);
        var once = EncoderEvaluation.Evaluate(shared, set, Probe);
        Assert.Equal(3, shared.Extractions); // memory = probe training, kNN queries, downstream test

        var apart = new EncoderFeatures(network, weights, set.Normalization);
        var twice = EncoderEvaluation.Evaluate(apart, set with { DownstreamTrain = CopyOf(train) }, Probe);
        Assert.Equal(4, apart.Extractions);
        Assert.Equal(twice.Knn, once.Knn);
        Assert.Equal(twice.Probes.Select(p => p.Acc), once.Probes.Select(p => p.Acc));
        // The one-call form scores the same too.
        Assert.Equal(once.Probes.Select(p => p.Acc), EncoderEvaluation.Evaluate(network, weights, set, Probe).Probes.Select(p => p.Acc));
    }

    [Fact]
    public void SeveralTestSetsOfOneEncoderShareItsFeatures()
    {
        var (network, weights) = Encoder();
        var (memory, queries) = (Images(32, 1), Images(16, 2));
        var features = new EncoderFeatures(network, weights, Normalization.Identity(3));
        EncoderEvaluation.Evaluate(features, new EncoderTestSet { Normalization = Normalization.Identity(3), KnnMemory = memory, KnnQueries = queries }, Probe);
        Assert.Equal(2, features.Extractions);
        // A downstream set on the pre-training images: only its test split is new.
        EncoderEvaluation.Evaluate(features, new EncoderTestSet { Normalization = Normalization.Identity(3), DownstreamTrain = memory, DownstreamTest = Images(16, 3) }, Probe);
        Assert.Equal(3, features.Extractions);
    }

    [Fact]
    public void FeaturesOfAnotherInputNormalisationAreRefused()
    {
        var (network, weights) = Encoder();
        var features = new EncoderFeatures(network, weights, Normalization.Identity(3));
        var set = new EncoderTestSet { Normalization = Normalization.Cifar10, KnnMemory = Images(8, 1), KnnQueries = Images(8, 2) };
        Assert.Throws<ArgumentException>(() => EncoderEvaluation.Evaluate(features, set, Probe));
        Assert.Equal(0, features.Extractions);
    }

    /// <summary>
    /// A downstream set that names the pre-training set (its path written another way) is the pre-training pair itself,
    /// not a second load: scoring can then share its features. Another path is loaded (here: it does not exist).
    /// </summary>
    [Fact]
    public void ADownstreamNamingThePretrainingSetIsThatSet()
    {
        var folder = Path.Combine(Scratch.NewFolder("no-cifar-"), "cifar10"); // never written: nothing may load it
        var pretrainingSpec = DatasetSpec.Parse($"cifar10:{folder}");
        var pretraining = new DatasetPair("cifar10", Images(8, 1), Images(8, 2), Normalization.Identity(3), Augmentation.None);
        var encoder = new ArchitectureConfig("resnet18", 3, 8, 8, 2, 0.0625);

        var (_, same) = EncoderPurification.Downstream(new EncoderScoring($"cifar10:{Path.Combine(folder, ".")}"), pretrainingSpec, pretraining, encoder);
        Assert.Same(pretraining, same);
        Assert.ThrowsAny<Exception>(() => EncoderPurification.Downstream(new EncoderScoring($"cifar10:{folder}-other"), pretrainingSpec, pretraining, encoder));
    }
}
