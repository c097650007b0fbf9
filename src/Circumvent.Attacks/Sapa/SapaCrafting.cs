using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Attacks.Sapa;

/// <summary>
/// SAPA's poison crafting settings. The authors' (Sleeper Agent `forest/options.py`, SAPA σ) are ε 16/255, 250 steps of
/// signAdam, 1,000 sources, the poisons 1% of the training set from the target class, and T = 4 retrains of the surrogate;
/// the defaults here are the small-scale recipe of docs/more-attacks.md (100 steps; 200 sources, 100 poisons are the
/// caller's choice), no augmentation unless asked, and no retraining unless asked (<see cref="Retrainings"/>). The step size is the authors' signAdam rule: tau in the
/// surrogate's normalised input units (not a share of ε), ×0.1 at 3/8, 5/8 and 7/8 of the steps (their MultiStepLR).
/// </summary>
public sealed record SapaOptions
{
    /// <summary>L∞ bound of δ on the 0–255 pixel scale.</summary>
    public double Epsilon { get; init; } = 16;
    public int Steps { get; init; } = 100;
    /// <summary>
    /// Adam's rate on the sign of the gradient, in normalised input units (the authors' tau 0.1: their "rule 2" for signAdam,
    /// tau·pbatch/512 with their pbatch 512). NOTE: ε = 16/255 is about 0.25 in those units, so the first steps reach the ε-ball.
    /// </summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>σ, the radius of SAPA's sharpness-aware weight perturbation (0 = Sleeper Agent).</summary>
    public double Sigma { get; init; } = 0.01;
    /// <summary>
    /// The random crop/flip each poison gets at every step before the matching (<see cref="PoisonAugmentation"/>; the authors'
    /// `paugment`). <see cref="Augmentation.None"/>: the poisons are matched at one alignment.
    /// </summary>
    public Augmentation Augmentation { get; init; } = Augmentation.None;
    /// <summary>Seeds the augmentation's draws.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// T: the surrogate is replaced by a retrained one after every ⌊Steps/(T+1)⌋ updates, T times (the authors' retrain_iter 50 of
    /// 250 steps, T = 4); 0: the surrogate stays fixed. The retraining itself is the caller's (<see cref="SapaCrafting.Craft"/>).
    /// </summary>
    public int Retrainings { get; init; }

    public void Validate()
    {
        if (!(Epsilon > 0 && Epsilon <= 255)) throw new ArgumentException($"--sapa-eps must be in (0, 255], got {Epsilon}.");
        if (Steps < 1) throw new ArgumentException($"--sapa-steps must be at least 1, got {Steps}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"--sapa-lr must be a positive number, got {LearningRate}.");
        if (!(Sigma >= 0) || double.IsInfinity(Sigma)) throw new ArgumentException($"--sapa-sigma must be a finite value ≥ 0, got {Sigma}.");
        if (Retrainings < 0 || Retrainings >= Steps) throw new ArgumentException($"--sapa-retrain must be ≥ 0 and less than --sapa-steps ({Steps}), got {Retrainings}.");
    }
}

/// <summary>
/// Crafts SAPA's poison perturbations: signAdam on <see cref="GradientMatching"/>'s loss, every step projected onto the
/// ε-ball (L∞, pixel scale) and onto valid pixels (x + δ in [0, 1]). Works in the normalised space the surrogate
/// sees: δ per channel c is bounded by ε/(255·std_c).
/// </summary>
public static class SapaCrafting
{
    /// <param name="log">Hears the crafting's progress: every 10th step's matching loss, each retraining, a resumed start.</param>
    /// <param name="retrain">
    /// With <see cref="SapaOptions.Retrainings"/> T > 0: called after each update in <see cref="RetrainingSteps"/> with δ so far
    /// (a copy) and the retraining's number 1..T; returns the surrogate to craft against from then on. Required when T > 0.
    /// </param>
    /// <param name="statePath">
    /// Where the crafting keeps its progress (δ, Adam's moments, the steps done and, with retraining, the current surrogate) in
    /// the one training-state format (<see cref="TrainingStateFile"/>), written as <see cref="ProgressSaving"/> allows and when
    /// stopped; a rerun with the same inputs continues from it and ends where an uninterrupted run ends, and one that finds all
    /// steps done crafts nothing. The caller deletes it once what it made is saved. Null: nothing kept.
    /// </param>
    /// <returns>δ (normalised units, shape of the poison images) and the matching loss before each step this call ran and after the last.</returns>
    public static (Tensor Delta, IReadOnlyList<double> Losses) Craft(IArchitecture architecture, ParameterSet surrogate, Normalization normalization,
        (Tensor Images, int[] Labels) sources, (Tensor Images, int[] Labels) poisons, SapaOptions options, Action<string>? log = null,
        Func<Tensor, int, ParameterSet>? retrain = null, string? statePath = null, CancellationToken cancellation = default)
    {
        options.Validate();
        var retrainAfter = RetrainingSteps(options.Steps, options.Retrainings);
        if (retrainAfter.Length > 0 && retrain is null) throw new ArgumentException("SAPA: --sapa-retrain needs a way to retrain the surrogate.");
        var delta = new Tensor(poisons.Images.Shape.ToArray(), new float[poisons.Images.Length], requiresGrad: true);
        var adam = new Adam([delta], options.LearningRate);
        var losses = new List<double>();
        var rng = new Random(options.Seed);
        // A fresh crop/flip per poison and step, the same one for every network pass of that step.
        PoisonAugmentation? Augment() => options.Augmentation.IsNone ? null
            : PoisonAugmentation.Draw(poisons.Labels.Length, options.Augmentation, normalization, poisons.Images.Shape[2], poisons.Images.Shape[3], rng);

        // With retraining the surrogate changes during the run, so it is saved with δ: a copy whose values each retraining overwrites.
        var current = retrainAfter.Length > 0 ? surrogate.Clone() : null;
        var state = statePath is null ? null : new TrainingStateFile(statePath, DeltaSet(delta), null,
            StateKey(architecture, surrogate, sources, poisons, options), current is null ? null : [new TrainingStatePart("surrogate", current, null, null)]);
        int done = state?.Restore(adam).EpochsDone ?? 0;
        if (current is not null) surrogate = current;
        for (int step = 0; step < done; step++) Augment(); // the draws of the steps done, so the rest draw what they would have
        if (done > 0) log?.Invoke($"SAPA: continuing the crafting saved in {statePath} after step {done}/{options.Steps}");
        for (int step = done; step < options.Steps; step++)
        {
            if (cancellation.IsCancellationRequested)
            {
                state?.Flush();
                cancellation.ThrowIfCancellationRequested();
            }
            adam.LearningRate = StepSize(step, options.Steps, options.LearningRate);
            var (loss, gradient) = GradientMatching.LossAndGradient(architecture, surrogate, sources, poisons, delta, options.Sigma, Augment());
            losses.Add(loss);
            var grad = delta.GradSpan();
            for (int i = 0; i < grad.Length; i++) grad[i] = MathF.Sign(gradient[i]); // signAdam: Adam on the gradient's sign
            adam.Step();
            adam.ZeroGrad();
            Project(delta, poisons.Images, normalization, options.Epsilon);
            if ((step + 1) % 10 == 0) log?.Invoke($"SAPA step {step + 1}/{options.Steps}: matching loss {loss:F4}");
            int round = Array.IndexOf(retrainAfter, step + 1) + 1;
            if (round > 0)
            {
                log?.Invoke($"SAPA: retraining the surrogate ({round}/{retrainAfter.Length}) on the poisons after step {step + 1}");
                var retrained = retrain!(new Tensor(delta.Shape.ToArray(), delta.ToArray()), round);
                foreach (var entry in current!) retrained[entry.Name].Data.CopyTo(entry.Tensor.Data, 0);
            }
            state?.Save(TrainingPosition.AfterEpochs(step + 1), adam);
        }
        state?.Flush();
        losses.Add(GradientMatching.LossAndGradient(architecture, surrogate, sources, poisons, delta, options.Sigma, Augment()).Loss);
        return (new Tensor(delta.Shape.ToArray(), delta.ToArray()), losses);
    }

    private static ParameterSet DeltaSet(Tensor delta)
    {
        var set = new ParameterSet();
        set.Add("delta", delta, TensorRole.Parameter);
        return set;
    }

    /// <summary>What a saved crafting must have been made from to be continued: the settings, network and every input's values.</summary>
    private static string StateKey(IArchitecture architecture, ParameterSet surrogate, (Tensor Images, int[] Labels) sources,
        (Tensor Images, int[] Labels) poisons, SapaOptions options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(ReadOnlySpan<float> values) => hash.AppendData(MemoryMarshal.AsBytes(values));
        foreach (var entry in surrogate) Add(entry.Tensor.Span);
        Add(sources.Images.Span);
        Add(poisons.Images.Span);
        hash.AppendData(MemoryMarshal.AsBytes<int>([.. sources.Labels, .. poisons.Labels]));
        var key = new JsonObject
        {
            ["sapa_crafting"] = FormattableString.Invariant($"eps {options.Epsilon:R} steps {options.Steps} lr {options.LearningRate:R} sigma {options.Sigma:R} ") +
                                $"augmentation {options.Augmentation} seed {options.Seed} retrainings {options.Retrainings}",
            ["architecture"] = architecture.Config.ToString(),
            ["inputs_sha256"] = Convert.ToHexStringLower(hash.GetHashAndReset()),
        };
        return key.ToJsonString();
    }

    /// <summary>
    /// After which updates (1-based counts) the surrogate is retrained: k·⌊steps/(T+1)⌋ for k = 1..T (250 steps, T = 4: 50, 100,
    /// 150, 200, as the authors' retrain_iter 50; 100 steps, T = 2: 33, 66). Empty for T = 0.
    /// </summary>
    public static int[] RetrainingSteps(int steps, int retrainings)
    {
        if (retrainings <= 0) return [];
        int every = steps / (retrainings + 1);
        return [.. Enumerable.Range(1, retrainings).Select(k => k * every)];
    }

    /// <summary>
    /// The rate of update <paramref name="step"/> (0-based) of <paramref name="steps"/>: <paramref name="rate"/>, ×0.1 from each
    /// of the authors' milestones ⌊steps/2.667⌋, ⌊steps/1.6⌋, ⌊steps/1.142⌋ on (93, 156, 218 of 250).
    /// </summary>
    public static double StepSize(int step, int steps, double rate)
    {
        foreach (double divisor in (double[])[2.667, 1.6, 1.142])
            if (step >= Math.Floor(steps / divisor)) rate *= 0.1;
        return rate;
    }

    /// <summary>δ ← clamp(δ, ±ε/(255·std_c)), then x + δ ← clamp to the normalised image of [0, 1] (x: normalised images (N, C, H, W)).</summary>
    public static void Project(Tensor delta, Tensor images, Normalization normalization, double epsilon)
    {
        int channels = images.Shape[1], plane = images.Shape[2] * images.Shape[3];
        var d = delta.Span;
        var x = images.Span;
        for (int i = 0; i < d.Length; i++)
        {
            int c = i / plane % channels;
            float std = normalization.Std[c], mean = normalization.Mean[c];
            float bound = (float)(epsilon / 255.0 / std);
            float low = (0f - mean) / std - x[i], high = (1f - mean) / std - x[i];
            d[i] = Math.Clamp(Math.Clamp(d[i], -bound, bound), low, high);
        }
    }
}
