using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Method.Defenses.Pam;

/// <summary>
/// BTI-DBF(U)'s unlearning batches around another objective: in every batch of B clean images, int(share·B + 1) chosen at
/// random (without repeats) are replaced by the generator's synthetic backdoor images G(x) of themselves, and every image
/// keeps its true label; the inner objective (PAM's step around the cross-entropy) then sees the composed batch. G is
/// frozen. The choice restarts from (seed, epoch) every epoch, so a resumed run composes the batches an uninterrupted run does.
/// </summary>
public sealed class SyntheticBackdoorBatches(ITrainingObjective inner, UNet unet, ParameterSet generator, BtiOptions options, int seed) : ITrainingObjective
{
    private Random _rng = new(seed);

    public ITrainingObjective Inner { get; } = inner;

    /// <summary>The indices replaced in the last batch (for tests and progress).</summary>
    public int[] LastReplaced { get; private set; } = [];

    public bool IsStateless => Inner.IsStateless;
    public TrainingStatePart? StatePart => Inner.StatePart;
    public void AfterStep(double learningRate) => Inner.AfterStep(learningRate);
    public bool Converged => Inner.Converged;

    public void BeginEpoch(int epoch)
    {
        _rng = new Random(BatchLoader.MixSeed(seed, epoch, -7));
        Inner.BeginEpoch(epoch);
    }

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var (images, replaced) = Compose(batch.Images, options.ReplacedCount(batch.Count), _rng, x => BackdoorGenerator.Generate(unet, generator, x));
        LastReplaced = replaced;
        return Inner.Loss(architecture, weights, new Batch(images, batch.Labels, batch.Indices), context);
    }

    /// <summary>
    /// A copy of <paramref name="images"/> (B, C, H, W) with <paramref name="count"/> distinct images, drawn by
    /// <paramref name="rng"/>, replaced by <paramref name="generate"/> of themselves (called once, on those images in
    /// ascending order); returns the copy and the replaced indices, ascending.
    /// </summary>
    public static (Tensor Images, int[] Replaced) Compose(Tensor images, int count, Random rng, Func<Tensor, Tensor> generate)
    {
        int n = images.Shape[0], size = images.Length / Math.Max(n, 1);
        if (count < 0 || count > n) throw new ArgumentOutOfRangeException(nameof(count), count, $"a batch of {n} cannot have {count} images replaced.");
        // A partial Fisher–Yates shuffle: the first `count` entries are a uniform sample without repeats (random.sample).
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < count; i++)
        {
            int j = i + rng.Next(n - i);
            (order[i], order[j]) = (order[j], order[i]);
        }
        int[] replaced = [.. order[..count].Order()];
        var composed = images.Clone();
        if (count == 0) return (composed, replaced);
        var chosen = Tensor.FromArray(new float[count * size], [count, .. images.Shape[1..]]);
        for (int k = 0; k < count; k++) images.Span.Slice(replaced[k] * size, size).CopyTo(chosen.Span.Slice(k * size, size));
        var generated = generate(chosen);
        for (int k = 0; k < count; k++) generated.Span.Slice(k * size, size).CopyTo(composed.Span.Slice(replaced[k] * size, size));
        return (composed, replaced);
    }
}
