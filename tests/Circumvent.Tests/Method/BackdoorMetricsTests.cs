using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Method.Evaluation;
using Circumvent.Models;

namespace Circumvent.Tests.Method;

public class BackdoorMetricsTests
{
    /// <summary>
    /// A hand-written "network" on 1×4×4 images whose answers are known: pixel (0, 0) encodes the
    /// class as 20·k; a white bottom-right pixel (the BadNet trigger) makes it answer class 0,
    /// except for class-1 images, which it keeps right; clean class-2 images are mistaken for class 3.
    /// It also checks it runs in eval mode without a graph.
    /// </summary>
    private sealed class StubNetwork : IArchitecture
    {
        public ArchitectureConfig Config { get; } = new("stub", 1, 4, 4, 5);
        public IReadOnlyList<TensorSpec> Tensors { get; } = [];
        public int Calls { get; private set; }
        public ParameterSet Initialize(Random rng) => new();

        public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context)
        {
            Assert.False(context.Training);
            Assert.False(GradMode.IsEnabled);
            Calls++;
            int batch = x.Shape[0];
            var logits = Tensor.Zeros(batch, 5);
            for (int i = 0; i < batch; i++)
            {
                // Identity normalisation: x = byte / 255.
                int label = (int)MathF.Round(x.Span[i * 16] * 255 / 20);
                bool triggered = x.Span[i * 16 + 15] > 0.99f; // 255 · (1/255) in float32
                int predicted = triggered ? (label == 1 ? 1 : 0) : (label == 2 ? 3 : label);
                logits.Span[i * 5 + predicted] = 1f;
            }
            return logits;
        }
    }

    /// <summary>4 images per class 0..4, pixel (0,0) = 20·label, the rest below 200.</summary>
    private static ImageDataset TestSet()
    {
        var pixels = new byte[20 * 16];
        var labels = new int[20];
        var rng = new Random(2);
        for (int i = 0; i < 20; i++)
        {
            labels[i] = i % 5;
            for (int p = 1; p < 16; p++) pixels[i * 16 + p] = (byte)rng.Next(0, 200);
            pixels[i * 16] = (byte)(20 * labels[i]);
        }
        return new ImageDataset(pixels, labels, 1, 4, 4, ["a", "b", "c", "d", "e"]);
    }

    [Fact]
    public void AccAsrAndRaMatchTheKnownAnswers()
    {
        var network = new StubNetwork();
        var attack = AttackFactory.Create(new AttackDefinition { Kind = "badnet", Target = 0, PatchSize = 1 });
        // Batches of 3 leave partial batches in both sets (20 and 16 images).
        var scores = BackdoorMetrics.Evaluate(network, new ParameterSet(), TestSet(), Normalization.Identity(1), attack, batchSize: 3);
        // Clean: class 2 (4 of 20) is wrong → 80%. Triggered non-target (16): classes 2–4 (12) go to 0 → ASR 75%;
        // class 1 (4) stays right → RA 25%.
        Assert.Equal(80, scores.Acc, 9);
        Assert.Equal(75, scores.Asr!.Value, 9);
        Assert.Equal(25, scores.Ra!.Value, 9);
        // Over all 20 triggered images, the 4 of target class 0 (answered 0) count too: (12 + 4) / 20.
        Assert.Equal(80, scores.AsrAll!.Value, 9);
        Assert.Equal(7 + 6 + 2, network.Calls); // ceil(20/3) + ceil(16/3) + ceil(4/3)
    }

    [Fact]
    public void WithoutAnAttackOnlyAccIsReported()
    {
        var scores = BackdoorMetrics.Evaluate(new StubNetwork(), new ParameterSet(), TestSet(), Normalization.Identity(1), attack: null);
        Assert.Equal(new BackdoorScores(80, null, null), scores);
    }

    [Fact]
    public void AnotherTargetChangesAsrButNotAcc()
    {
        // Target 1: the stub answers 0 for triggered classes 0, 2–4 → no hits on class 1; RA counts the
        // 4 class-0 images (answered 0, their true label) of the 16 non-target ones.
        var attack = AttackFactory.Create(new AttackDefinition { Kind = "badnet", Target = 1, PatchSize = 1 });
        var set = BackdoorTestSet.Create(TestSet(), Normalization.Identity(1), attack);
        Assert.Equal(16, set.Triggered!.Count);
        var scores = BackdoorMetrics.Evaluate(new StubNetwork(), new ParameterSet(), set);
        Assert.Equal(80, scores.Acc, 9);
        Assert.Equal(0, scores.Asr!.Value, 9);
        Assert.Equal(25, scores.Ra!.Value, 9);
        // A trigger with no effect at all still "succeeds" on the target class's own images when they count:
        // ASR over all images is 4 / 20 = 20% (the 1/classes floor other tools' ASR has), ours 0%.
        Assert.Equal(4, set.TriggeredTarget!.Count);
        Assert.Equal(20, scores.AsrAll!.Value, 9);
    }

    [Fact]
    public void RealMlpScoresAreConsistentWithItsPredictions()
    {
        // An untrained mlp: ACC/ASR/RA must equal the shares computed from Predict directly.
        var arch = Architectures.Create(new ArchitectureConfig("mlp", 1, 4, 4, 5, 0.125));
        var parameters = arch.Initialize(new Random(3));
        var test = TestSet();
        var attack = AttackFactory.Create(new AttackDefinition { Kind = "badnet", Target = 2, PatchSize = 2 });
        var scores = BackdoorMetrics.Evaluate(arch, parameters, test, Normalization.Identity(1), attack, batchSize: 7);

        var clean = BackdoorMetrics.Predict(arch, parameters, test, Normalization.Identity(1));
        var triggered = Poisoning.TriggeredNonTarget(test, attack);
        var hit = BackdoorMetrics.Predict(arch, parameters, triggered, Normalization.Identity(1));
        Assert.Equal(100.0 * clean.Where((p, i) => p == test.Labels[i]).Count() / 20, scores.Acc, 9);
        Assert.Equal(100.0 * hit.Count(p => p == 2) / 16, scores.Asr!.Value, 9);
        Assert.Equal(100.0 * hit.Where((p, i) => p == triggered.Labels[i]).Count() / 16, scores.Ra!.Value, 9);
    }
}
