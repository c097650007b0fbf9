using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;

namespace Circumvent.Method.Pipelines;

/// <summary>ACC/ASR/RA of the weights at one t on one trained curve (Round is 1-based; Stage as stored, e.g. "stage 1").</summary>
public sealed record CurveSample(int Round, string Stage, double T, BackdoorScores Scores);

/// <summary>
/// Scores evenly spaced points along the curves a purification trained (the paper's Figure 3):
/// for every t the point's BN statistics are re-estimated on the clean set, then it is evaluated.
/// </summary>
public static class CurveSampling
{
    /// <summary>A run's curve augmentation setting from its recorded config (true when absent: the default).</summary>
    public static bool AugmentFrom(JsonNode? config) => config?["options"]?["curve"]?["augment"]?.GetValue<bool>() ?? true;

    /// <summary>The curve files of a run folder, ordered by round then stage.</summary>
    public static IReadOnlyList<CurveFile.Content> LoadCurves(string runFolder) =>
        Directory.EnumerateFiles(runFolder, "*" + CurveFile.Extension).Select(CurveFile.Load)
            .OrderBy(c => c.Round).ThenBy(c => c.Stage, StringComparer.Ordinal).ToList();

    /// <param name="points">Evenly spaced t values per curve, t = 0 and t = 1 included (≥ 2).</param>
    /// <param name="onSample">Called after every point, e.g. to print it.</param>
    /// <param name="augment">Whether the curves were trained with augmentation (the run's options.curve.augment, see
    /// <see cref="AugmentFrom"/>): BN re-estimation then sees augmented images too, as in the purification.</param>
    /// <param name="onCleanSet">Score on the clean subset the curves were trained on instead of the test set: a
    /// barrier there is one the fit did not remove; one on the test set only is a generalisation gap.</param>
    public static IReadOnlyList<CurveSample> Sample(IReadOnlyList<CurveFile.Content> curves, int points, int batchSize, PurificationSetup setup,
        CancellationToken cancellation, Action<CurveSample>? onSample = null, bool augment = true, bool onCleanSet = false)
    {
        var evaluated = onCleanSet ? setup.Clean : setup.Test;
        var augmentation = Curves.OptionChecks.AugmentationFor(augment, setup.Augmentation, setup.Clean.Height);
        if (points < 2) throw new ArgumentException($"--points must be at least 2 (t = 0 and t = 1), got {points}.");
        if (onCleanSet && setup.EncoderTests is not null)
            throw new ArgumentException("--on clean scores a classifier on its clean subset; an encoder's curves are scored by kNN and downstream probes (--on test).");
        var samples = new List<CurveSample>();
        // Triggered once for every point (the trigger does not depend on the weights).
        var testSet = setup.EncoderTests is null ? BackdoorTestSet.Create(evaluated, setup.Normalization, setup.Attack) : null;
        foreach (var curve in curves)
        {
            var arch = curve.Network;
            for (int i = 0; i < points; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                double t = (double)i / (points - 1);
                // An encoder's points get BN statistics from one view of its curve's views, and downstream ACC/ASR with kNN.
                var weights = CurvePoint.At(arch, curve.Curve, t, setup.Clean, setup.Normalization, batchSize, augmentation, view: setup.Views);
                var scores = arch is SimClrNetwork encoder && setup.EncoderTests is { } tests
                    ? EncoderEvaluation.Evaluate(encoder, weights, tests, setup.Probe ?? new ProbeOptions(), cancellation: cancellation).ToBackdoorScores()
                    : BackdoorMetrics.Evaluate(arch, weights, testSet!, cancellation: cancellation);
                var sample = new CurveSample(curve.Round, curve.Stage, t, scores);
                samples.Add(sample);
                onSample?.Invoke(sample);
            }
        }
        return samples;
    }

    /// <summary>The clean subset, test set, normalisation and attack a run was made with, rebuilt from its config.json.</summary>
    public static PurificationSetup SetupFromRunFolder(string folder, JsonObject config)
    {
        var input = config["input"] as JsonObject
                    ?? throw new ArgumentException($"--run '{folder}': its config has no 'input' section (was it made by `circumvent purify`?).");
        JsonNode Field(JsonNode parent, string key) =>
            parent[key] ?? throw new ArgumentException($"--run '{folder}': config.json has no '{key}' (was it made by `circumvent purify`?).");
        try
        {
            var dataset = DatasetSpec.Load(Field(input, "data").GetValue<string>());
            double fraction = Field(input, "clean_fraction").GetValue<double>();
            int seed = Field(config, "seed").GetValue<int>();
            var norm = Field(input, "normalization");
            float[] Floats(string key) => [.. Field(norm, key).AsArray().Select(v => (float)(v ?? throw new FormatException("null value")).GetValue<double>())];
            var normalization = new Normalization(Floats("mean"), Floats("std"));
            var attack = input["attack"] is JsonNode a ? AttackFactory.FromJson(a.ToJsonString()) : null;
            if (input["objective"]?.GetValue<string>() == EncoderPurification.Clip)
                throw new ArgumentException($"--run '{folder}' purified a CLIP model; sampling its curves (zero-shot scoring of each point) is not supported yet.");
            var clean = Subsets.PerClass(dataset.Train, fraction, seed);
            if (EncoderPurification.FromIdentity(input) is not { } scoring)
                return new PurificationSetup(clean, dataset.Test, normalization, attack, dataset.Augmentation);
            // An encoder's run: the same kNN and downstream probes as the purification scored its stages with.
            var downstream = scoring.Downstream is { } d && !EncoderPurification.SameSet(DatasetSpec.Parse(d), DatasetSpec.Parse(Field(input, "data").GetValue<string>()))
                ? DatasetSpec.Load(d) : dataset;
            var tests = EncoderTestSet.Create(normalization, dataset, downstream, attack, scoring.KnnK, scoring.KnnTemperature);
            return new PurificationSetup(clean, dataset.Test, normalization, attack, dataset.Augmentation, tests, scoring.ProbeOrDefault, EncoderPurification.Views);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new ArgumentException($"--run '{folder}': config.json is malformed ({e.Message}).");
        }
    }
}
