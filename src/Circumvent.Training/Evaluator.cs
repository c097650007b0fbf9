using Circumvent.Data.Loading;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Memory;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>Top-1 accuracy in eval mode (running BN statistics, no dropout) without recording a graph.</summary>
public static class Evaluator
{
    /// <param name="ttaLevel">Test-time augmentation (<see cref="TestTimeAugmentation"/>): 0 none, 1 mirror, 2 mirror + translate.</param>
    /// <param name="cancellation">Observed between batches: throws OperationCanceledException.</param>
    /// <returns>Fraction of correctly classified examples in [0, 1].</returns>
    public static double Accuracy(IArchitecture architecture, ParameterSet parameters, IBatchSource data, int ttaLevel = 0, CancellationToken cancellation = default)
    {
        if (data.Count == 0) throw new ArgumentException("The evaluation set is empty.");
        using var noGrad = GradMode.Disable();
        var context = ForwardContext.Eval();
        long correct = 0, seen = 0;
        foreach (var batch in data.Batches(0))
        {
            using (batch)
            using (TensorScope.Open())
            {
                cancellation.ThrowIfCancellationRequested();
                var logits = TestTimeAugmentation.Logits(architecture, parameters, batch.Images, context, ttaLevel);
                correct += TrainingLoop.CountCorrect(logits, batch.Labels);
                seen += batch.Count;
            }
        }
        return (double)correct / seen;
    }
}
