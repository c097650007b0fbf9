using System.Globalization;
using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Attacks;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Runs;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// BadEncoder: a clean encoder checkpoint + a shadow dataset + reference images of the target class → a backdoored
/// encoder checkpoint, the pipeline behind `circumvent pretrain --method badencoder`. The one <see cref="Trainer"/>
/// (one training loop, one resume mechanism) runs <see cref="BadEncoderObjective"/> on a loader whose view 0 is each
/// shadow image as it is and view 1 the same image with the trigger stamped into its pixels (the authors'
/// bd_transform: no augmentation). Before and after, it measures how close triggered test images embed to the
/// references (mean cosine) and how close clean test images stay to the clean encoder's embedding.
/// </summary>
public static class BadEncoderTraining
{
    public const string Method = "badencoder";
    /// <summary>Metadata key of the attack's settings and its cosine measurements.</summary>
    public const string BadEncoderKey = "circumvent.badencoder";

    /// <summary>The authors' CIFAR trigger (trigger_pt_white_21_10_ap_replace.npz): a 10×10 white patch at rows/columns 21–30.</summary>
    public static AttackDefinition AuthorsTrigger(int referenceLabel) => new()
    {
        Kind = AttackDefinition.BadNetKind, Target = referenceLabel, PatchSize = 10, PatchRow = 21, PatchColumn = 21, PatchColour = 255,
    };

    /// <param name="Encoder">The clean encoder checkpoint f₀ (written by `pretrain --method simclr`).</param>
    /// <param name="References">Image files of the target class (PNG, JPEG, PPM or .npy), the inputs' size.</param>
    /// <param name="ReferenceLabel">The downstream target class the references stand for (GTSRB "priority road" = 12, CIFAR-10 truck = 9).</param>
    /// <param name="Trigger">The patch stamped into triggered inputs (a badnet definition).</param>
    /// <param name="LimitTest">Measure on the first N test images only (0 = all).</param>
    public sealed record Settings(string Encoder, IReadOnlyList<string> References, int ReferenceLabel, AttackDefinition Trigger,
        double Lambda1 = BadEncoderObjective.DefaultLambda, double Lambda2 = BadEncoderObjective.DefaultLambda, int LimitTest = 0)
    {
        public void Validate()
        {
            if (References.Count == 0) throw new ArgumentException("--reference: give at least one image of the target class.");
            if (ReferenceLabel < 0) throw new ArgumentException($"--target must be ≥ 0, got {ReferenceLabel}.");
            if (Trigger.Kind != AttackDefinition.BadNetKind) throw new ArgumentException($"BadEncoder's trigger is a patch (badnet), got '{Trigger.Kind}'.");
            if (!(Lambda1 >= 0) || !(Lambda2 >= 0) || double.IsInfinity(Lambda1) || double.IsInfinity(Lambda2))
                throw new ArgumentException($"--lambda1 and --lambda2 must be finite and ≥ 0, got {Lambda1} and {Lambda2}.");
            if (LimitTest < 0) throw new ArgumentException($"--limit-test must be ≥ 0 (0 = all), got {LimitTest}.");
        }
    }

    /// <summary>Mean cosines on the test images: triggered vs the references (the attack's effect) and clean vs f₀ (its cost).</summary>
    public sealed record Cosines(double TriggeredToReference, double CleanToCleanEncoder);

    /// <param name="ZeroShotBefore">A CLIP's zero-shot ACC/ASR before the attack (null for SimCLR).</param>
    public sealed record Outcome(TrainingResult Training, Cosines Before, Cosines After, string OutputPath, double ComputeSeconds,
        BackdoorScores? ZeroShotBefore = null, BackdoorScores? ZeroShotAfter = null);

    /// <summary>The authors' settings (scripts/run_badencoder.py, CIFAR): SGD lr 1e-3, momentum 0.9, weight decay 5e-4, batch 256, 200 epochs, seed 100.</summary>
    public static TrainingConfig Defaults { get; } = new()
    {
        Architecture = "resnet18", Data = "cifar10", Epochs = 200, BatchSize = 256, LearningRate = 1e-3, Momentum = 0.9, Nesterov = false,
        WeightDecay = 5e-4, Optimizer = "sgd", Schedule = "none", Augment = false, Seed = 100,
    };

    public static Outcome Run(TrainingConfig config, Settings settings, string outputPath, CancellationToken cancellation,
        BackdoorTraining.Display? display = null, Action<string>? log = null)
    {
        settings.Validate();
        string output = OutputPaths.Check("--out", outputPath, "a file path such as badencoder.safetensors");
        var source = ModelCheckpoint.Load(settings.Encoder);
        var network = source.Network as IEncoderNetwork
            ?? throw new ArgumentException($"--encoder '{settings.Encoder}' is not an encoder (role \"{ModelCheckpoint.EncoderRole}\" or \"{ModelCheckpoint.ClipRole}\"): make one with `circumvent pretrain`.");
        config = config with
        {
            Architecture = source.Architecture.Name, WidthMultiplier = source.Architecture.WidthMultiplier,
            Freeze = BadEncoderObjective.FrozenTensors(network, source.Parameters), Augment = false,
        };
        config.Validate();
        var dataset = DatasetSpec.Parse(config.Data).Load();
        var inputs = source.NormalizationMean is { } mean ? new Normalization(mean, source.NormalizationStd!) : dataset.Normalization;
        var shadow = config.LimitTrain > 0 && config.LimitTrain < dataset.Train.Count
            ? dataset.Train.Subset(Subsets.RandomIndices(dataset.Train.Count, config.LimitTrain, config.SeedFor(RandomStream.Shuffle)))
            : dataset.Train;
        var test = settings.LimitTest > 0 && settings.LimitTest < dataset.Test.Count ? dataset.Test.Subset([.. Enumerable.Range(0, settings.LimitTest)]) : dataset.Test;
        int[] encoderInput = source.InputShape;
        if (!encoderInput.SequenceEqual(new[] { shadow.Channels, shadow.Height, shadow.Width }))
            throw new ArgumentException($"--data {dataset.Name} has {shadow.Channels}×{shadow.Height}×{shadow.Width} images; the encoder '{settings.Encoder}' takes {string.Join("×", encoderInput)}.");
        var references = LoadReferences(settings.References, shadow);
        var attack = new BadNetAttack(settings.Trigger with { Target = settings.ReferenceLabel });
        attack.ApplyTrigger(new byte[shadow.ImageSize], shadow.Channels, shadow.Height, shadow.Width); // a patch that does not fit fails here, before any work

        var parameters = source.Parameters;
        var clean = parameters.Clone();
        var saving = ProgressSaving.FromEnvironment();
        var objective = new BadEncoderObjective(network, clean, references, inputs, settings.Lambda1, settings.Lambda2, seed: config.Seed);
        var before = Measure(network, parameters, clean, test, references, attack, inputs, cancellation);
        log?.Invoke($"before: triggered-to-reference cosine {before.TriggeredToReference:F4}, clean-to-clean-encoder cosine {before.CleanToCleanEncoder:F4} ({test.Count} test images)");
        // A CLIP's image tower is scored zero-shot by its own (untouched) text tower's prompts.
        var captions = network is ClipNetwork ? ClipPretraining.Captions(settings.Encoder, source) : null;
        BackdoorScores? ZeroShot() => network is ClipNetwork clip && captions is not null && captions.Classes == test.NumClasses
            ? ClipPretraining.ZeroShot(clip, parameters, captions, test, inputs, attack, cancellation) : null;
        var zeroShotBefore = ZeroShot();
        if (zeroShotBefore is { } z) log?.Invoke($"before: zero-shot ACC {z.Acc:F2}%, ASR {z.Asr:F2}% (target {settings.ReferenceLabel})");

        var options = BatchLoaderOptions.Training(config.BatchSize, config.SeedFor(RandomStream.Shuffle)) with
        {
            Views = 2, ViewTransforms = [null, raw => Stamp(attack, raw)],
        };
        if (shadow.Count < config.BatchSize) options = options with { DropLast = false };
        var data = new BatchLoaderSource(new BatchLoader(shadow, inputs, options));
        var statsUpdater = new RunningStatsUpdater(parameters); // never called: f runs in eval mode, g not at all
        using var ledger = new ComputeLedger(BackdoorTraining.SecondsPath(output));
        string settingsJson = SettingsJson(settings, attack);
        string runKey = config.ToJson() + settingsJson;
        var state = new TrainingStateFile(BackdoorTraining.StatePath(output), parameters, statsUpdater, runKey, saving: saving)
            { InputDigest = Runs.InputContent.OfKey(runKey, dataset.Train) }; // resumes after the data or a file it names moved
        var trainer = new Trainer(network, parameters, config, statsUpdater)
        {
            Cancellation = cancellation,
            Objective = objective,
            State = state,
        };
        if (File.Exists(state.FilePath)) log?.Invoke($"continuing the attack saved in {state.FilePath}");
        if (log is not null)
            trainer.Progress += p =>
            {
                if (!p.IsEpochEnd) return;
                var (l0, l1, l2) = objective.EpochTerms;
                log($"epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} = L0 {l0:F4} + {settings.Lambda1:g}·L1 {l1:F4} + {settings.Lambda2:g}·L2 {l2:F4} " +
                    EpochLines.RateAndEta(p));
            };
        string header = $"BadEncoder on {settings.Encoder} ({source.Architecture.Name} width {source.Architecture.WidthMultiplier:g3}, features {network.FeatureSize}): " +
            $"shadow {dataset.Name} ({shadow.Count} images, {data.BatchesPerEpoch} batches/epoch), {references.Count} reference(s) of class {settings.ReferenceLabel}, " +
            $"patch {settings.Trigger.PatchSize}×{settings.Trigger.PatchSize} at ({settings.Trigger.PatchColumn},{settings.Trigger.PatchRow}), λ₁ {settings.Lambda1:g} λ₂ {settings.Lambda2:g}, " +
            $"{config.Optimizer} lr {config.LearningRate:g3}, the encoder's BN frozen";
        var result = display is null ? trainer.Train(data) : display(header, trainer, () => trainer.Train(data));

        var after = Measure(network, parameters, clean, test, references, attack, inputs, cancellation);
        var zeroShotAfter = ZeroShot();
        if (zeroShotAfter is { } za) log?.Invoke($"after: zero-shot ACC {za.Acc:F2}%, ASR {za.Asr:F2}% (target {settings.ReferenceLabel})");
        var extra = new Dictionary<string, string>(source.Extra, StringComparer.Ordinal);
        extra.Remove("circumvent.knn_accuracy"); // the clean encoder's, no longer this one's
        extra.Remove(ClipPretraining.ZeroShotAccuracyKey);
        // The role is the source's (the checkpoint writes it from the network): "encoder" for SimCLR, "clip" for CLIP.
        extra[BackdoorTraining.AttackKey] = attack.Definition.ToJson();
        extra[Purification.SourceModelKey] = Path.GetFullPath(settings.Encoder);
        extra[BadEncoderKey] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["settings"] = JsonDocument.Parse(settingsJson).RootElement,
            ["cosine_before"] = before,
            ["cosine_after"] = after,
            ["zero_shot_before"] = zeroShotBefore is { } zb ? new Dictionary<string, double?> { ["acc"] = zb.Acc, ["asr"] = zb.Asr } : null!,
            ["zero_shot_after"] = zeroShotAfter is { } zf ? new Dictionary<string, double?> { ["acc"] = zf.Acc, ["asr"] = zf.Asr } : null!,
        });
        new ModelCheckpoint
        {
            Architecture = source.Architecture,
            Network = network,
            Parameters = parameters,
            ClassNames = source.ClassNames,
            NormalizationMean = inputs.Mean,
            NormalizationStd = inputs.Std,
            TrainingJson = config.ToJson(),
            Extra = extra,
            BatchesTracked = source.BatchesTracked,
        }.Save(output);
        double seconds = ledger.Stop();
        state.Delete();
        ledger.Delete();
        return new Outcome(result, before, after, output, seconds, zeroShotBefore, zeroShotAfter);
    }

    /// <summary>Stamps the trigger into every image of a raw batch (the loader's view-1 transform).</summary>
    public static void Stamp(IAttack attack, RawBatch raw)
    {
        for (int i = 0; i < raw.Count; i++) attack.ApplyTrigger(raw.Image(i), raw.Channels, raw.Height, raw.Width);
    }

    /// <summary>The reference images as a dataset of the shadow images' shape; a file of another shape or colour depth is refused by name.</summary>
    public static ImageDataset LoadReferences(IReadOnlyList<string> paths, ImageDataset like)
    {
        var pixels = new byte[paths.Count * like.ImageSize];
        for (int k = 0; k < paths.Count; k++)
        {
            var image = TriggerImage.Load(paths[k]);
            if (image.Channels != like.Channels || image.Height != like.Height || image.Width != like.Width)
                throw new ArgumentException($"--reference '{paths[k]}' is {image.Channels}×{image.Height}×{image.Width}; the shadow images are {like.Channels}×{like.Height}×{like.Width}.");
            for (int i = 0; i < like.ImageSize; i++) pixels[k * like.ImageSize + i] = (byte)Math.Clamp(MathF.Round(image.Values[i]), 0f, 255f);
        }
        return new ImageDataset(pixels, new int[paths.Count], like.Channels, like.Height, like.Width, like.ClassNames);
    }

    /// <summary>Mean cosine of f(x ⊕ trigger) with the references' f(r) (mean over references), and of f(x) with f₀(x), over <paramref name="test"/>.</summary>
    public static Cosines Measure(IEncoderNetwork network, ParameterSet attacked, ParameterSet clean, ImageDataset test, ImageDataset references,
        IAttack attack, Normalization inputs, CancellationToken cancellation = default)
    {
        var eval = ForwardContext.Eval();
        Func<Tensor, Tensor> f = x => network.Features(attacked, x, eval), f0 = x => network.Features(clean, x, eval);
        var triggered = test.Subset([.. Enumerable.Range(0, test.Count)]);
        attack.ApplyTriggerToAll(triggered);
        // Three passes over the test set (about a minute at paper scale): each observes the token between batches.
        Tensor Extract(Func<Tensor, Tensor> features, ImageDataset data) => Evaluation.KnnMonitor.Extract(features, data, inputs, cancellation: cancellation).Features;
        var reference = Extract(f, references);
        double toReference = MeanCosine(Extract(f, triggered), reference, pairwise: false);
        double kept = MeanCosine(Extract(f, test), Extract(f0, test), pairwise: true);
        return new Cosines(toReference, kept);
    }

    // Mean cosine of a's rows with b's rows: row i with row i (pairwise), or every row with every row.
    private static double MeanCosine(Tensor a, Tensor b, bool pairwise)
    {
        int n = a.Shape[0], m = b.Shape[0], d = a.Shape[1];
        float[] x = a.ToArray(), y = b.ToArray();
        double total = 0;
        int count = 0;
        for (int i = 0; i < n; i++)
            for (int j = pairwise ? i : 0; j < (pairwise ? i + 1 : m); j++)
            {
                double dot = 0, nx = 0, ny = 0;
                for (int t = 0; t < d; t++) { dot += (double)x[i * d + t] * y[j * d + t]; nx += (double)x[i * d + t] * x[i * d + t]; ny += (double)y[j * d + t] * y[j * d + t]; }
                total += dot / Math.Max(Math.Sqrt(nx * ny), 1e-12);
                count++;
            }
        a.Dispose();
        b.Dispose();
        return total / count;
    }

    private static string SettingsJson(Settings settings, IAttack attack) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["method"] = Method,
            ["clean_encoder"] = Path.GetFullPath(settings.Encoder),
            ["references"] = settings.References.Select(Path.GetFullPath).ToArray(),
            ["reference_label"] = settings.ReferenceLabel,
            ["lambda1"] = settings.Lambda1,
            ["lambda2"] = settings.Lambda2,
            ["reference_augmentation"] = ContrastiveAugmentation.BadEncoderReference.Describe(),
            ["trigger"] = attack.Definition.ToJson(),
            ["frozen"] = "f's BatchNorm (eval mode, γ/β fixed) and the head g",
        });
}
