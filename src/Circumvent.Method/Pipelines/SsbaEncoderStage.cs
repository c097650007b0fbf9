using System.Diagnostics;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Attacks;
using Circumvent.Method.Runs;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// SSBA's first stage inside <see cref="BackdoorTraining"/>: the StegaStamp encoder the attack poisons with,
/// trained on the attacker's clean training set (or the file the attack names), written beside the model as
/// NAME.ssba-encoder.safetensors and recorded in the attack by path and SHA-256. Its progress is kept after
/// every epoch (beside the output, or in a store under the hash of what it depends on, where any run with
/// the same data, seed and encoder settings reuses the finished encoder).
/// </summary>
internal static class SsbaEncoderStage
{
    /// <summary>Test images the finished encoder's round trip and residuals are measured on.</summary>
    public const int HeldOutImages = 500;

    /// <param name="Attack">The attack with <see cref="AttackDefinition.Encoder"/> and its hash set.</param>
    /// <param name="State">The progress file to delete once the model is saved (null when the encoder was given or kept in a store).</param>
    /// <param name="RecordJson">What the model's metadata records about the encoder (hash, settings, held-out quality).</param>
    public sealed record Result(AttackDefinition Attack, SsbaEncoder Encoder, TrainingStateFile? State, string RecordJson);

    public static Result Prepare(AttackDefinition attack, TrainingConfig config, ImageDataset train, ImageDataset test, string output, string? store,
        ProgressSaving saving, Action<string>? log, CancellationToken cancellation)
    {
        SsbaEncoder encoder;
        TrainingStateFile? state = null;
        var record = new JsonObject();
        if (attack.Encoder is { } given)
        {
            encoder = SsbaEncoder.Load(given);
            record["given"] = true;
        }
        else
        {
            var settings = SsbaEncoderSettings.From(attack, config.Seed);
            var training = new SsbaEncoderTraining(train, settings);
            string key = SsbaEncoderTraining.KeyJson(config, settings);
            var digest = Runs.InputContent.OfKey(key, train);
            string statePath = output + ".encoder-state";
            if (store is not null)
            {
                Directory.CreateDirectory(store);
                statePath = Runs.InputContent.StorePath(store, key, digest, ".encoder-state");
            }
            var file = training.CreateState(statePath, key, saving, digest);
            // Runners sharing the store take turns on one encoder, so the second reuses what the first trained.
            using (var storeLock = store is null ? null : ExclusiveFileLock.Acquire(statePath + ".lock",
                () => log?.Invoke($"ssba: another runner is training this encoder ({statePath}); waiting for it"), cancellation))
            {
                log?.Invoke($"ssba: training the StegaStamp encoder ({settings.Bits} bits, width {settings.Width:g3}, {settings.Epochs} epochs of {training.BatchesPerEpoch} batches, "
                    + $"L2 from {training.AwaitSteps} steps after 90% bit accuracy, ramp {training.RampSteps})"
                    + (File.Exists(statePath) ? $", continuing from (or, when complete, reusing) {statePath}" : ""));
                var clock = Stopwatch.StartNew();
                encoder = training.Run(log is null ? null : new EncoderLog(log), cancellation, file);
                record["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
            }
            if (store is null) state = file;
            string path = SsbaEncoder.PathBeside(output);
            encoder.Save(path, training.SettingsJson());
            attack = attack with { Encoder = path };
            record["training"] = JsonNode.Parse(training.SettingsJson());
        }
        string hash = Sha256Hex.OfFile(attack.Encoder!);
        attack = attack with { EncoderSha256 = hash };
        record["sha256"] = hash;
        var heldOut = test.Subset([.. Enumerable.Range(0, Math.Min(HeldOutImages, test.Count))]);
        var secret = encoder.Secret(attack.SecretSeed);
        var withSecret = StegaStampQuality.Measure(encoder, heldOut, _ => secret);
        var random = StegaStampQuality.Measure(encoder, heldOut, StegaStampQuality.RandomSecrets(encoder.Bits, heldOut.Count, seed: 1));
        log?.Invoke($"ssba encoder on {heldOut.Count} test images: with the secret {withSecret}; random bit strings: bit accuracy {100 * random.BitAccuracy:F2}%");
        record["held_out_secret"] = Quality(withSecret);
        record["held_out_random_bits"] = Quality(random);
        return new Result(attack, encoder, state, record.ToJsonString());
    }

    private static JsonObject Quality(StegaStampQuality q) => new()
    {
        ["images"] = q.Images,
        ["bit_accuracy"] = q.BitAccuracy,
        ["psnr_db"] = double.IsFinite(q.Psnr) ? Math.Round(q.Psnr, 3) : null,
        ["linf_255"] = q.MaxAbsResidual,
        ["mean_abs_255"] = Math.Round(q.MeanAbsResidual, 4),
    };

    private sealed class EncoderLog(Action<string> log) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.IsEpochEnd) log($"{p.Stage} epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4} bit accuracy {100 * p.Accuracy:F2}% {p.ImagesPerSecond:F0} img/s");
        }
    }
}
