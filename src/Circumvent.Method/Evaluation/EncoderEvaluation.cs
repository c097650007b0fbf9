using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Engine;
using Circumvent.Method.Attacks;
using Circumvent.Models;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// What an encoder is scored on (all through the encoder's own input normalisation): kNN on the pre-training set
/// (memory = its training split, queries = its test split), and optionally a downstream dataset whose training split
/// trains the probes, whose test split gives ACC and whose non-target test images, triggered in raw pixel space, give
/// ASR (share classified as the target) — the authors' BadEncoderTestBackdoor.
/// </summary>
public sealed record EncoderTestSet
{
    public required Normalization Normalization { get; init; }
    /// <summary>kNN memory and queries; null: no kNN.</summary>
    public ImageDataset? KnnMemory { get; init; }
    public ImageDataset? KnnQueries { get; init; }
    /// <summary>
    /// The kNN's ASR query (CTRL, whose trigger lives on the pre-training set): its non-target test images with the trigger,
    /// labelled with the target class, so the kNN's "accuracy" on them is the share it puts in the target; null: none.
    /// </summary>
    public ImageDataset? KnnTriggered { get; init; }
    public int KnnK { get; init; } = KnnMonitor.DefaultK;
    public float KnnTemperature { get; init; } = KnnMonitor.DefaultTemperature;
    /// <summary>The probes' training and test data; null: no probe.</summary>
    public ImageDataset? DownstreamTrain { get; init; }
    public ImageDataset? DownstreamTest { get; init; }
    /// <summary>The downstream test images outside the target class with the trigger applied (true labels kept); null: no attack.</summary>
    public ImageDataset? Triggered { get; init; }
    public int TargetClass { get; init; } = -1;

    /// <param name="pretraining">kNN data (the pre-training set); null: no kNN.</param>
    /// <param name="downstream">Probe data; null: no probe.</param>
    /// <param name="attack">Trigger and target of ASR on the downstream test set; null: no ASR.</param>
    public static EncoderTestSet Create(Normalization normalization, DatasetPair? pretraining, DatasetPair? downstream, IAttack? attack,
        int knnK = KnnMonitor.DefaultK, float knnTemperature = KnnMonitor.DefaultTemperature)
    {
        if (attack is not null && downstream is null) throw new ArgumentException("ASR needs a downstream dataset to stamp the trigger on.");
        foreach (var data in new[] { pretraining, downstream })
            if (data is not null && data.Train.Channels != normalization.Channels)
                throw new ArgumentException($"The encoder takes {normalization.Channels}-channel images; {data.Name} has {data.Train.Channels}.");
        if (attack is not null && attack.TargetClass >= downstream!.NumClasses)
            throw new ArgumentException($"--target {attack.TargetClass} is outside {downstream.Name}'s classes 0..{downstream.NumClasses - 1}.");
        return new EncoderTestSet
        {
            Normalization = normalization,
            KnnMemory = pretraining?.Train,
            KnnQueries = pretraining?.Test,
            KnnK = knnK,
            KnnTemperature = knnTemperature,
            DownstreamTrain = downstream?.Train,
            DownstreamTest = downstream?.Test,
            Triggered = attack is null ? null : Poisoning.TriggeredNonTarget(downstream!.Test, attack),
            TargetClass = attack?.TargetClass ?? -1,
        };
    }

    /// <summary>The ASR query of a kNN: <paramref name="triggered"/> (non-target images with the trigger) labelled <paramref name="target"/>.</summary>
    public static ImageDataset TargetLabelled(ImageDataset triggered, int target) =>
        new(triggered.Pixels, Enumerable.Repeat(target, triggered.Count).ToArray(), triggered.Channels, triggered.Height, triggered.Width, triggered.ClassNames);
}

/// <summary>One probe's scores in percent: ACC on the clean downstream test set; ASR and RA on its triggered non-target images (null without an attack).</summary>
public sealed record ProbeScores(ProbeKind Kind, double Acc, double? Asr, double? Ra);

/// <summary>An encoder's scores: kNN accuracy in percent (null: not measured), one entry per probe trained, and the kNN's ASR (null: no kNN trigger query).</summary>
public sealed record EncoderScores(double? Knn, IReadOnlyList<ProbeScores> Probes, double? KnnAsr = null)
{
    /// <summary>
    /// The first probe's ACC/ASR/RA with the kNN accuracy: what a purification of an encoder reports per stage
    /// (downstream ACC/ASR as acc/asr, kNN as knn).
    /// </summary>
    public BackdoorScores ToBackdoorScores()
    {
        if (Probes.Count == 0) throw new InvalidOperationException("An encoder's ACC/ASR needs a downstream probe.");
        var p = Probes[0];
        return new BackdoorScores(p.Acc, p.Asr, p.Ra, Knn: Knn);
    }
}

/// <summary>
/// One encoder's eval-mode features, extracted once per dataset object: scoring the same images as kNN memory and as the
/// probes' training set (CIFAR-10 pre-training with a CIFAR-10 downstream, 50,000 images) runs the encoder over them once.
/// Valid for the one weight set it was made with.
/// </summary>
public sealed class EncoderFeatures(SimClrNetwork network, ParameterSet parameters, Normalization normalization, CancellationToken cancellation = default)
{
    private readonly Dictionary<ImageDataset, LabelledFeatures> _extracted = new(ReferenceEqualityComparer.Instance);
    private readonly ForwardContext _context = ForwardContext.Eval();

    public Normalization Normalization => normalization;

    /// <summary>How many datasets were run through the encoder so far (each once).</summary>
    public int Extractions => _extracted.Count;

    /// <summary>The features (N, d) of every image of <paramref name="data"/>, in order, with their labels.</summary>
    public LabelledFeatures Of(ImageDataset data)
    {
        if (!_extracted.TryGetValue(data, out var features))
        {
            features = KnnMonitor.Extract(x => network.Features(parameters, x, _context), data, normalization, cancellation: cancellation);
            _extracted[data] = features;
        }
        return features;
    }
}

/// <summary>Scores an encoder: features extracted once per dataset, then kNN and every probe on them.</summary>
public static class EncoderEvaluation
{
    /// <param name="log">Hears one line per step (extraction, each probe), for long evaluations.</param>
    /// <param name="cancellation">
    /// Observed between batches of every extraction, kNN chunk and probe step, so a Ctrl-C or SIGTERM during minutes of
    /// scoring stops within a batch (throws OperationCanceledException); nothing of a score is kept, a resumed run scores again.
    /// </param>
    public static EncoderScores Evaluate(SimClrNetwork network, ParameterSet parameters, EncoderTestSet set, ProbeOptions probe, Action<string>? log = null,
        CancellationToken cancellation = default) =>
        Evaluate(new EncoderFeatures(network, parameters, set.Normalization, cancellation), set, probe, log, cancellation);

    /// <summary>As above, on features that may already hold some of the sets' (several test sets of one encoder share them).</summary>
    public static EncoderScores Evaluate(EncoderFeatures encoder, EncoderTestSet set, ProbeOptions probe, Action<string>? log = null,
        CancellationToken cancellation = default)
    {
        if (encoder.Normalization != set.Normalization)
            throw new ArgumentException("The test set's input normalisation differs from the one its features were extracted with.", nameof(set));

        double? knn = null, knnAsr = null;
        if (set.KnnMemory is { } memory && set.KnnQueries is { } queries)
        {
            var memoryFeatures = encoder.Of(memory);
            knn = 100 * KnnMonitor.Accuracy(memoryFeatures, encoder.Of(queries), memory.NumClasses, set.KnnK, set.KnnTemperature, cancellation);
            log?.Invoke($"kNN accuracy {knn:F2}% ({queries.Count} queries, {memory.Count} in memory)");
            if (set.KnnTriggered is { Count: > 0 } triggeredQueries)
            {
                knnAsr = 100 * KnnMonitor.Accuracy(memoryFeatures, encoder.Of(triggeredQueries), memory.NumClasses, set.KnnK, set.KnnTemperature, cancellation);
                log?.Invoke($"kNN ASR {knnAsr:F2}% ({triggeredQueries.Count} triggered queries)");
            }
        }
        var probes = new List<ProbeScores>();
        if (set.DownstreamTrain is { } train && set.DownstreamTest is { } test)
        {
            // Frozen features: extracted once, every probe trains on the same cached rows.
            var trainFeatures = encoder.Of(train);
            var testFeatures = encoder.Of(test);
            var triggered = set.Triggered is { } t ? encoder.Of(t) : null;
            foreach (var kind in probe.Kinds)
            {
                var (net, weights) = DownstreamProbe.Train(kind, trainFeatures, train.NumClasses, probe, cancellation);
                double acc = Percent(DownstreamProbe.Predict(net, weights, testFeatures.Features), (p, i) => p == testFeatures.Labels[i]);
                double? asr = null, ra = null;
                if (triggered is not null && triggered.Labels.Length > 0)
                {
                    var predicted = DownstreamProbe.Predict(net, weights, triggered.Features);
                    asr = Percent(predicted, (p, _) => p == set.TargetClass);
                    ra = Percent(predicted, (p, i) => p == triggered.Labels[i]);
                }
                var scores = new ProbeScores(kind, acc, asr, ra);
                probes.Add(scores);
                log?.Invoke($"{Describe(kind)} probe ({probe.Epochs} epochs on {train.Count} images): ACC {acc:F2}%" + (asr is { } a ? $", ASR {a:F2}%" : ""));
            }
        }
        return new EncoderScores(knn, probes, knnAsr);
    }

    /// <summary>"MLP" or "linear", as reports name the probes.</summary>
    public static string Describe(ProbeKind kind) => kind == ProbeKind.Mlp ? "MLP" : "linear";

    private static double Percent(int[] predicted, Func<int, int, bool> hit)
    {
        int hits = 0;
        for (int i = 0; i < predicted.Length; i++) if (hit(predicted[i], i)) hits++;
        return 100.0 * hits / predicted.Length;
    }
}
