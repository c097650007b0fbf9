using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Attacks;

/// <summary>
/// InputAware's joint step, plugged into the classifier's <see cref="Trainer"/>: per batch, a seeded
/// <see cref="InputAwareBatchPlan"/>; backdoor samples become x + m(x)⊙(g(x) − x) with the target label,
/// cross samples x + m(x₂)⊙(g(x₂) − x) with their own label (x₂ from a second, differently shuffled
/// loader at the same positions), the rest stay clean. Loss: cross-entropy on the mixed batch plus
/// λ_div × the generator's diversity loss on the backdoor/cross pairs; after the classifier's step G
/// takes its own Adam step. M is frozen (eval mode, no gradients); G trains in training mode.
/// </summary>
public sealed class InputAwareObjective : ITrainingObjective, IDisposable
{
    private readonly InputAwareNetworks _networks;
    private readonly AttackDefinition _attack;
    private readonly BatchLoader _partnerLoader;
    private readonly int _planSeed;
    private IEnumerator<Batch> _partners;
    private Random _planRng;
    private readonly float _labelSmoothing;
    private readonly double _classifierPeakLearningRate;
    private readonly Adam _generatorOptimizer;
    private readonly ForwardContext _generatorContext;
    private readonly ForwardContext _maskContext = ForwardContext.Eval();

    /// <param name="partners">Same dataset and batch size as the classifier's loader, another shuffle seed.</param>
    /// <param name="classifierPeakLearningRate">The classifier's base learning rate (its schedule's peak).</param>
    public InputAwareObjective(InputAwareNetworks networks, AttackDefinition attack, BatchLoader partners, int planSeed, double labelSmoothing,
        double classifierPeakLearningRate)
    {
        if (!(classifierPeakLearningRate > 0)) throw new ArgumentException($"The classifier's learning rate must be positive, got {classifierPeakLearningRate}.");
        _classifierPeakLearningRate = classifierPeakLearningRate;
        _networks = networks;
        _attack = attack;
        _partnerLoader = partners;
        _planSeed = planSeed;
        (_planRng, _partners) = StreamsFrom(0);
        _labelSmoothing = (float)labelSmoothing;
        var parameters = networks.Generator.Parameters.Select(p => p.Tensor).ToList();
        foreach (var p in parameters) p.RequiresGrad = true;
        _generatorOptimizer = new Adam(parameters, InputAwareTraining.GeneratorLearningRate, InputAwareTraining.AdamBeta1, InputAwareTraining.AdamBeta2);
        GeneratorStats = new RunningStatsUpdater(networks.Generator, InputAwareNetworks.BatchNormMomentum);
        _generatorContext = ForwardContext.Train(GeneratorStats, new Random(planSeed));
    }

    /// <summary>
    /// Epoch <paramref name="epoch"/>'s batch plans and partner batches start from the epoch alone, so a
    /// resumed run draws what the uninterrupted one drew (both loaders have the same batches per epoch).
    /// </summary>
    public void BeginEpoch(int epoch)
    {
        _partners.Dispose();
        (_planRng, _partners) = StreamsFrom(epoch);
    }

    /// <summary>G, its BN counts and its Adam state, saved with the classifier's training state.</summary>
    public TrainingStatePart StatePart => new("generator", _networks.Generator, GeneratorStats, _generatorOptimizer);

    // The plan draws and the partner batches as they stand at the start of `epoch`.
    private (Random Plans, IEnumerator<Batch> Partners) StreamsFrom(int epoch) =>
        (new Random(BatchLoader.MixSeed(_planSeed, epoch, 0)), InputAwareTraining.Endless(_partnerLoader, epoch).GetEnumerator());

    /// <summary>Updates G's BN running statistics (its num_batches_tracked counts).</summary>
    public RunningStatsUpdater GeneratorStats { get; }

    /// <summary>The plan of the last batch (for inspection).</summary>
    public InputAwareBatchPlan? LastPlan { get; private set; }

    public BatchLoss Loss(IArchitecture classifier, ParameterSet weights, Batch batch, ForwardContext context)
    {
        Tensor classify(Tensor x) => classifier.Forward(weights, x, context);
        _generatorOptimizer.ZeroGrad();
        var plan = InputAwareBatchPlan.Draw(batch.Count, _attack.PoisonRate, _attack.CrossRate, _planRng);
        LastPlan = plan;
        // The partner batch is drawn every step, used or not, so the pairing depends on the step alone.
        Tensor? partnerImages = null;
        using (var partner = NextPartner(batch.Count))
            if (plan.Cross.Length > 0) partnerImages = Rows(partner.Images, plan.Cross);

        var parts = new List<Tensor>(3);
        var labels = new List<int>(batch.Count);
        Tensor? backdoor = null, ownPatterns = null, crossPatterns = null;
        if (plan.Backdoor.Length > 0)
        {
            backdoor = Rows(batch.Images, plan.Backdoor);
            ownPatterns = _networks.Patterns(backdoor, _generatorContext);
            parts.Add(InputAwareTrigger.Blend(backdoor, ownPatterns, _networks.Masks(backdoor, _maskContext)));
            labels.AddRange(Enumerable.Repeat(_attack.Target, plan.Backdoor.Length));
        }
        if (plan.Cross.Length > 0)
        {
            crossPatterns = _networks.Patterns(partnerImages!, _generatorContext);
            var masks = _networks.Masks(partnerImages!, _maskContext);
            parts.Add(InputAwareTrigger.Blend(Rows(batch.Images, plan.Cross), crossPatterns, masks));
            labels.AddRange(plan.Cross.Select(i => batch.Labels[i]));
        }
        if (plan.Clean.Length > 0)
        {
            parts.Add(Rows(batch.Images, plan.Clean));
            labels.AddRange(plan.Clean.Select(i => batch.Labels[i]));
        }
        var input = parts.Count == 1 ? parts[0] : Op.Concat([.. parts], 0);
        var logits = classify(input);
        int[] targets = [.. labels];
        var loss = Op.CrossEntropy(logits, targets, _labelSmoothing);

        // Diversity on the first min(backdoor, cross) pairs (x, x₂) — the authors pair them the same way.
        int pairs = Math.Min(plan.Backdoor.Length, plan.Cross.Length);
        if (pairs > 0)
        {
            var diversity = InputAwareTrigger.DiversityLoss(Op.Slice(backdoor!, 0, 0, pairs), Op.Slice(partnerImages!, 0, 0, pairs),
                Op.Slice(ownPatterns!, 0, 0, pairs), Op.Slice(crossPatterns!, 0, 0, pairs));
            loss = Op.Add(loss, Op.MulScalar(diversity, InputAwareTraining.DiversityWeight));
        }
        return new BatchLoss(loss, logits, targets);
    }

    /// <summary>
    /// G's Adam step at lr 0.01 × the classifier's schedule factor (its current rate over its peak), so G
    /// settles as the classifier's rate anneals and the trained classifier matches the final G.
    /// </summary>
    public void AfterStep(double classifierLearningRate)
    {
        _generatorOptimizer.LearningRate = InputAwareTraining.GeneratorLearningRate * classifierLearningRate / _classifierPeakLearningRate;
        _generatorOptimizer.Step();
    }

    public void Dispose() => _partners.Dispose();

    /// <summary>The partner loader's next batch; it must match the classifier's batch in size.</summary>
    internal Batch NextPartner(int count) => InputAwareTraining.NextPartner(_partners, count);

    /// <summary>The rows of a (B, …) batch at <paramref name="rows"/>, copied into a new (pooled) tensor.</summary>
    public static Tensor Rows(Tensor images, int[] rows)
    {
        int size = images.Length / images.Shape[0];
        var result = Tensor.Empty([rows.Length, .. images.Shape.AsSpan(1)]);
        var source = images.Span;
        var target = result.Span;
        for (int i = 0; i < rows.Length; i++) source.Slice(rows[i] * size, size).CopyTo(target.Slice(i * size, size));
        return result;
    }
}
