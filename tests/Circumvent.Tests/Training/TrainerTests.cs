using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

public class TrainerTests
{
    /// <summary>2 → 32 → 3 MLP over inputs shaped (N, 1, 1, 2); just enough to exercise the loop.</summary>
    private sealed class TinyMlp : IArchitecture
    {
        public ArchitectureConfig Config { get; } = new("tiny-mlp", 1, 1, 2, 3);

        public IReadOnlyList<TensorSpec> Tensors { get; } =
        [
            new("fc1.weight", [32, 2], TensorRole.Parameter), new("fc1.bias", [32], TensorRole.Parameter),
            new("fc2.weight", [3, 32], TensorRole.Parameter), new("fc2.bias", [3], TensorRole.Parameter),
        ];

        public ParameterSet Initialize(Random rng)
        {
            var set = new ParameterSet();
            foreach (var spec in Tensors)
            {
                float bound = 1f / MathF.Sqrt(spec.Name.StartsWith("fc1") ? 2 : 32);
                set.Add(spec.Name, Tensor.Uniform(rng, -bound, bound, spec.Shape).Clone(requiresGrad: true), spec.Role);
            }
            return set;
        }

        public Tensor Forward(ParameterSet p, Tensor x, ForwardContext context)
        {
            var flat = Op.Reshape(x, x.Shape[0], 2);
            var hidden = Op.Relu(Op.Linear(flat, p["fc1.weight"], p["fc1.bias"]));
            return Op.Linear(hidden, p["fc2.weight"], p["fc2.bias"]);
        }
    }

    /// <summary>Three Gaussian blobs (σ = 0.5) around well separated centres: a linearly separable problem.</summary>
    private static TensorBatchSource Blobs(int perClass, int seed, int batchSize, bool shuffle)
    {
        (float x, float y)[] centres = [(-2f, 0f), (2f, 0f), (0f, 2.5f)];
        var rng = new Random(seed);
        var features = new float[perClass * 3 * 2];
        var labels = new int[perClass * 3];
        var noise = Tensor.Randn(rng, perClass * 3 * 2).ToArray();
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = i % 3;
            features[2 * i] = centres[i % 3].x + 0.5f * noise[2 * i];
            features[2 * i + 1] = centres[i % 3].y + 0.5f * noise[2 * i + 1];
        }
        return new TensorBatchSource(features, labels, [1, 1, 2], batchSize, shuffle ? seed : null);
    }

    private static (double Accuracy, TrainingResult Result, List<TrainingProgress> Events, float[] Weights) TrainBlobs(TrainingConfig config)
    {
        var arch = new TinyMlp();
        var parameters = arch.Initialize(new Random(config.SeedFor(RandomStream.Initialization)));
        var trainer = new Trainer(arch, parameters, config);
        var events = new List<TrainingProgress>();
        trainer.Progress += events.Add;
        var result = trainer.Train(Blobs(200, seed: 1, config.BatchSize, shuffle: true));
        double accuracy = Evaluator.Accuracy(arch, parameters, Blobs(100, seed: 2, 64, shuffle: false));
        return (accuracy, result, events, parameters["fc1.weight"].ToArray());
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    [InlineData("adamw")]
    public void SmallMlpLearnsSeparableBlobs(string optimizer)
    {
        var config = new TrainingConfig
        {
            Architecture = "tiny-mlp", Epochs = 5, BatchSize = 32, Optimizer = optimizer,
            LearningRate = optimizer == "sgd" ? 0.1 : 0.01, WeightDecay = 1e-4, WarmupEpochs = 1, Seed = 3,
        };
        var (accuracy, result, events, _) = TrainBlobs(config);
        Assert.True(accuracy >= 0.97, $"{optimizer}: held-out accuracy {accuracy:P1} < 97%");
        Assert.True(result.FinalLoss < 0.3, $"{optimizer}: final epoch loss {result.FinalLoss:F3}");
        Assert.Equal(5 * 19, events.Count); // 600 examples / 32 = 19 batches per epoch
        Assert.Equal(5, events[^1].Epoch);
        Assert.True(events[^1].IsEpochEnd);
        Assert.True(events[^1].ImagesPerSecond > 0);
        Assert.Equal(TimeSpan.Zero, events[^1].EstimatedRemaining);
    }

    [Fact]
    public void SameSeedReproducesTheRunAndAnotherSeedDoesNot()
    {
        var config = new TrainingConfig { Epochs = 1, BatchSize = 16, LearningRate = 0.05, Seed = 11 };
        var a = TrainBlobs(config).Weights;
        var b = TrainBlobs(config).Weights;
        var c = TrainBlobs(config with { Seed = 12 }).Weights;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void CosineScheduleReachesZeroOnTheLastStep()
    {
        var config = new TrainingConfig { Epochs = 2, BatchSize = 100, LearningRate = 0.1, Schedule = "cosine", WarmupEpochs = 0.5, Seed = 1 };
        var (_, _, events, _) = TrainBlobs(config);
        Assert.Equal(0.1 / 3, events[0].LearningRate, 9);     // warm-up over 3 of 6 steps per epoch
        Assert.Equal(0.1, events[2].LearningRate, 9);
        Assert.True(events[^1].LearningRate < 0.01, $"last step lr {events[^1].LearningRate}");
    }

    [Fact]
    public void InvalidConfigNamesTheOption()
    {
        var arch = new TinyMlp();
        var ex = Assert.Throws<ArgumentException>(() => new Trainer(arch, arch.Initialize(new Random(0)), new TrainingConfig { Epochs = 0 }));
        Assert.Contains("--epochs", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => new Trainer(arch, arch.Initialize(new Random(0)), new TrainingConfig { BatchSize = -1 }));
        Assert.Contains("--batch-size", ex.Message);
    }

    [Fact]
    public void ConfigRoundTripsThroughJson()
    {
        var config = new TrainingConfig { Architecture = "vgg11", Epochs = 7, Optimizer = "adamw", LabelSmoothing = 0.1, Seed = 42, Augment = false };
        var json = config.ToJson();
        Assert.Contains("\"label_smoothing\":0.1", json);
        Assert.Equal(config, TrainingConfig.FromJson(json));
    }
}
