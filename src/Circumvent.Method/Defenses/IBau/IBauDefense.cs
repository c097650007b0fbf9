using System.Text.Json.Nodes;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Memory;
using Circumvent.Method.Curves;
using Circumvent.Method.Runs;
using Circumvent.Models;

namespace Circumvent.Method.Defenses.IBau;

/// <summary>
/// I-BAU as BackdoorBench runs it: D is drawn once into shuffled (augmented) batches, the outer batches of every round
/// (the loader's epoch 0). Round r fits a universal adversarial perturbation δ on a fresh pass of the loader (epoch r: new
/// order, new augmentation, as BackdoorBench iterates its loader again; <see cref="UniversalPerturbation"/>), then for
/// every outer batch takes one Adam step on θ
/// along the implicit hypergradient of the batch's loss with δ on ⌊portion·B⌋ random images
/// (<see cref="ImplicitHypergradient"/>; the inner problem lives on the first batch), Adam with amsgrad as BackdoorBench's. Eval mode throughout, so BN's running
/// statistics never change. One unit, "round1.unlearn" (Adam's moments carry across rounds, as in the original).
/// </summary>
public sealed class IBauDefense(IBauOptions options) : IDefense
{
    public IBauOptions Options { get; } = options;

    public string Name => "i-bau";

    public JsonObject DescribeOptions() => OptionsJson.ToNode(Options);

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        Options.Validate();
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);
        var unit = new DefenseUnit(1, "unlearn", UnitKind.FineTune);
        var purified = run.Weights(unit, _ => Unlearn(input, unit, observer, run));
        var after = run.Evaluate(1, "unlearn", purified);
        return run.Finish(purified, before, after);
    }

    // The unlearning; the perturbation's L2 norm per round is reported and kept as the run's "i-bau" finding.
    private ParameterSet Unlearn(DefenseInput input, DefenseUnit unit, IDefenseObserver? observer, ResumableRun run)
    {
        var norms = new JsonArray();
        int seed = UnitSeeds.For(input.Seed, 1, UnitSeeds.IBau);
        var loader = Loader(input);
        var batches = DrawBatches(loader);
        var model = input.Parameters.Clone(requiresGrad: true);
        var trained = model.Parameters.Select(e => e.Tensor).ToArray();
        var adam = OptionChecks.CreateOptimizer(Options.Optimizer, trained, Options.LearningRate, momentum: 0, weightDecay: 0);
        var rng = new Random(seed);
        for (int round = 1; round <= Options.Rounds; round++)
        {
            input.Cancellation.ThrowIfCancellationRequested();
            var delta = UniversalPerturbation.Fit(input.Architecture, model, Pass(loader, round), Options.PerturbationLearningRate, Options.PerturbationL2);
            foreach (var batch in batches)
            {
                input.Cancellation.ThrowIfCancellationRequested();
                int count = (int)Math.Floor(batch.Labels.Length * Options.Portion);
                var patched = Enumerable.Range(0, batch.Labels.Length).OrderBy(_ => rng.Next()).Take(count).ToArray();
                var gradient = ImplicitHypergradient.Compute(input.Architecture, model, delta, batches[0], batch, patched, Options).Total();
                for (int p = 0; p < trained.Length; p++) gradient[p].CopyTo(trained[p].GradSpan());
                adam.Step();
                adam.ZeroGrad();
            }
            double norm = Math.Sqrt(delta.ToArray().Sum(v => (double)v * v));
            observer?.Progress(unit, $"round {round}/{Options.Rounds}: perturbation ‖δ‖ = {norm:F2}");
            norms.Add(Math.Round(norm, 4));
        }
        run.Record("i-bau", new JsonObject { ["perturbation_l2_per_round"] = norms });
        return model.Clone();
    }

    /// <summary>The shuffled, augmented loader over D whose epoch 0 gives the outer batches and epoch r round r's perturbation.</summary>
    internal BatchLoader Loader(DefenseInput input) => OptionChecks.TrainingLoader(input.Clean, input.Normalization, Options.BatchSize,
        UnitSeeds.For(input.Seed, 1, UnitSeeds.IBau), OptionChecks.AugmentationFor(Options.Augment, input.Augmentation, input.Clean.Height));

    /// <summary>The outer batches: the loader's first pass over D, kept for every round (the original collects its loader's batches once).</summary>
    private static List<(Tensor Images, int[] Labels)> DrawBatches(BatchLoader loader)
    {
        var batches = new List<(Tensor, int[])>();
        foreach (var batch in loader.Epoch(0))
            using (batch)
                batches.Add((batch.Images.Clone(), batch.Labels.ToArray()));
        if (batches.Count == 0) throw new ArgumentException("I-BAU needs at least one batch of clean images.");
        return batches;
    }

    /// <summary>Pass <paramref name="epoch"/> of the loader, each batch released once the perturbation has stepped on it.</summary>
    internal static IEnumerable<(Tensor Images, int[] Labels)> Pass(BatchLoader loader, int epoch)
    {
        foreach (var batch in loader.Epoch(epoch))
            using (batch)
                yield return (batch.Images, batch.Labels.ToArray());
    }
}

/// <summary>`--defense i-bau`: implicit backdoor adversarial unlearning with BackdoorBench's defaults.</summary>
public sealed class IBauPlugin : DefensePlugin
{
    private static readonly IBauOptions D = new();
    private static readonly DefenseKnob Rounds = DefenseKnob.Integer("ibau_rounds", D.Rounds, "Rounds (a new universal perturbation, then one step per batch).");
    private static readonly DefenseKnob K = DefenseKnob.Integer("ibau_k", D.FixedPointSteps, "Fixed-point iterations K of the implicit hypergradient.");
    private static readonly DefenseKnob InnerStep = DefenseKnob.Number("ibau_inner_step", D.InnerStep, "Step of the inner gradient map δ ← δ − step·∇δ.");
    private static readonly DefenseKnob Lr = DefenseKnob.Number("ibau_lr", D.LearningRate, "Adam's rate for the model (the I-BAU paper: 1e-3).");
    private static readonly DefenseKnob PerturbationLr = DefenseKnob.Number("ibau_perturbation_lr", D.PerturbationLearningRate, "SGD rate of the universal perturbation.");
    private static readonly DefenseKnob Portion = DefenseKnob.Number("ibau_portion", D.Portion, "Share of each batch (rounded down) that carries the perturbation.");

    public override string Name => "i-bau";
    public override string Summary => "I-BAU: unlearning a universal adversarial perturbation through an implicit hypergradient, 5 rounds, Adam 1e-4 (BackdoorBench's defaults).";

    public override IReadOnlyList<DefenseKnob> Knobs { get; } =
    [
        Rounds, K, InnerStep, Lr, PerturbationLr, Portion, TrainingKnobs.BatchSize(D.BatchSize, "the unlearning batches"), TrainingKnobs.Augment("Draw the batches"),
    ];

    public override IDefense Create(DefenseSettings s)
    {
        var options = D with
        {
            Rounds = s.Integer(Rounds) ?? D.Rounds,
            FixedPointSteps = s.Integer(K) ?? D.FixedPointSteps,
            InnerStep = s.Number(InnerStep) ?? D.InnerStep,
            LearningRate = s.Number(Lr) ?? D.LearningRate,
            PerturbationLearningRate = s.Number(PerturbationLr) ?? D.PerturbationLearningRate,
            Portion = s.Number(Portion) ?? D.Portion,
            BatchSize = s.Integer(TrainingKnobs.BatchSizeField) ?? D.BatchSize,
            Augment = s.IsOn(TrainingKnobs.AugmentField),
        };
        options.Validate();
        return new IBauDefense(options);
    }
}
