using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Training;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Method;

/// <summary>
/// Scoring a model takes minutes at paper scale (an encoder: features of every split, kNN, two 100-epoch probes; a
/// classifier: 20,000 test images), so a Ctrl-C or a scheduler's SIGTERM must stop it within a batch, not after it.
/// The probe tests give the work far more than it could finish (a million epochs), cancel midway and require
/// OperationCanceledException within a bounded wait: a step that ignores the token never returns, and the wait fails the
/// test instead of hanging the suite. The others cancel before the call and require that nothing is computed.
/// </summary>
public sealed class EvaluationCancellationTests
{
    private static readonly TimeSpan Allowed = TimeSpan.FromSeconds(60);

    private static ImageDataset Images(int count, int seed)
    {
        var pixels = new byte[count * 3 * 8 * 8];
        new Random(seed).NextBytes(pixels);
        return new ImageDataset(pixels, [.. Enumerable.Range(0, count).Select(i => i % 2)], 3, 8, 8, ["a", "b"]);
    }

    private static (SimClrNetwork Network, ParameterSet Weights) Encoder()
    {
        var network = new SimClrNetwork((IFeatureExtractor)Architectures.Create(new ArchitectureConfig("resnet18", 3, 8, 8, 2, 0.0625)), hidden: 16, projection: 8);
        return (network, network.Initialize(new Random(1)));
    }

    // Runs `work` on a thread of its own and cancels its token `delay` after `ready` is set (by the work, or by its end).
    // The cancelling is done here, not by a timer, which a thread pool saturated by the engine's parallel loops could
    // starve. Returns what the work threw; fails if it was still running Allowed after the cancellation.
    private static Exception? RunAndCancel(Action<CancellationToken, ManualResetEventSlim> work, TimeSpan delay)
    {
        using var stop = new CancellationTokenSource();
        using var ready = new ManualResetEventSlim();
        Exception? thrown = null;
        var thread = new Thread(() =>
        {
            try { work(stop.Token, ready); }
            catch (Exception e) { thrown = e; }
            finally { ready.Set(); }
        }) { IsBackground = true };
        thread.Start();
        Assert.True(ready.Wait(Allowed), "the work never reached the point to cancel at");
        Thread.Sleep(delay);
        stop.Cancel();
        Assert.True(thread.Join(Allowed), $"still running {Allowed.TotalSeconds:F0} s after the cancellation: a step ignores the token");
        return thrown;
    }

    [Fact]
    public void AProbeStopsMidTrainingWhenCancelled()
    {
        var features = new LabelledFeatures(TestData.Randn(1, 64, 4), [.. Enumerable.Range(0, 64).Select(i => i % 2)]);
        var options = new ProbeOptions { Epochs = 1_000_000, BatchSize = 16 };
        var thrown = RunAndCancel((token, ready) => { ready.Set(); DownstreamProbe.Train(ProbeKind.Mlp, features, 2, options, token); }, TimeSpan.FromMilliseconds(300));
        Assert.IsAssignableFrom<OperationCanceledException>(thrown);
    }

    [Fact]
    public void AnEncodersScoringStopsInItsProbesWhenCancelled()
    {
        var (network, weights) = Encoder();
        var set = new EncoderTestSet
        {
            Normalization = Normalization.Identity(3),
            KnnMemory = Images(32, 1), KnnQueries = Images(16, 2),
            DownstreamTrain = Images(32, 3), DownstreamTest = Images(16, 4),
        };
        // Cancelled a second after the kNN is done: by then the downstream features (48 tiny images) are extracted and the
        // first of a million probe epochs has begun, so only the probe's loop can stop it.
        var steps = new List<string>();
        var thrown = RunAndCancel((token, ready) => EncoderEvaluation.Evaluate(network, weights, set, new ProbeOptions { Epochs = 1_000_000, BatchSize = 8 },
            step => { steps.Add(step); ready.Set(); }, token), TimeSpan.FromSeconds(1));
        Assert.IsAssignableFrom<OperationCanceledException>(thrown);
        Assert.Single(steps, s => s.StartsWith("kNN accuracy", StringComparison.Ordinal));
        Assert.DoesNotContain(steps, s => s.Contains("probe", StringComparison.Ordinal)); // no probe was scored
    }

    [Fact]
    public void ACancelledScoringExtractsNoFeaturesAndScoresNothing()
    {
        var (network, weights) = Encoder();
        var set = new EncoderTestSet { Normalization = Normalization.Identity(3), KnnMemory = Images(16, 1), KnnQueries = Images(8, 2) };
        int forwards = 0;
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => KnnMonitor.Extract(x => { forwards++; return x; }, Images(16, 1), set.Normalization, 4, stop.Token));
        Assert.Equal(0, forwards);
        var steps = new List<string>();
        Assert.ThrowsAny<OperationCanceledException>(() => EncoderEvaluation.Evaluate(network, weights, set, new ProbeOptions(), steps.Add, stop.Token));
        Assert.Empty(steps);
    }

    [Fact]
    public void KnnPredictionObservesTheTokenBetweenQueryChunks()
    {
        var memory = new LabelledFeatures(TestData.Randn(1, 32, 4), [.. Enumerable.Range(0, 32).Select(i => i % 2)]);
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => KnnMonitor.Predict(memory, TestData.Randn(2, 8, 4), 2, 5, 0.1f, stop.Token));
        Assert.Equal(8, KnnMonitor.Predict(memory, TestData.Randn(2, 8, 4), 2, 5, 0.1f).Length); // uncancelled, the same call predicts
    }

    [Fact]
    public void AClassifiersScoringObservesTheTokenBetweenBatches()
    {
        var model = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 8, 8, 2, 0.125));
        var weights = model.Initialize(new Random(1));
        var test = Images(24, 5);
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => BackdoorMetrics.Evaluate(model, weights, test, Normalization.Identity(3), null, batchSize: 8, cancellation: stop.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => BackdoorMetrics.Predict(model, weights, test, Normalization.Identity(3), 8, cancellation: stop.Token));
        var source = new BatchLoaderSource(new BatchLoader(test, Normalization.Identity(3), BatchLoaderOptions.Evaluation(8)));
        Assert.ThrowsAny<OperationCanceledException>(() => Evaluator.Accuracy(model, weights, source, cancellation: stop.Token));
        // Uncancelled, the same calls score every image, and agree with each other.
        var predicted = BackdoorMetrics.Predict(model, weights, test, Normalization.Identity(3), 8);
        Assert.Equal(24, predicted.Length);
        Assert.Equal(predicted.Where((p, i) => p == test.Labels[i]).Count() / 24.0, Evaluator.Accuracy(model, weights, source), 12);
    }
}
