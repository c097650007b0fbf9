using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Method.Curves;

/// <summary>Extracts a standalone model from a trained curve.</summary>
public static class CurvePoint
{
    /// <summary>
    /// The weights at <paramref name="t"/> as a new parameter set owning its tensors (no graph, no
    /// gradients), with every BN's running statistics re-estimated on <paramref name="clean"/>
    /// (<see cref="BatchNormReestimation.Recompute"/>).
    /// </summary>
    /// <param name="augmentation">What BN re-estimation applies to the clean images: the curve's training augmentation (see <see cref="BatchNormReestimation"/>).</param>
    /// <param name="view">A contrastive curve's view augmentation, which then replaces <paramref name="augmentation"/>.</param>
    public static ParameterSet At(IArchitecture arch, BezierCurve curve, double t, ImageDataset clean,
        Normalization normalization, int batchSize = 256, Augmentation? augmentation = null, int seed = 0, ContrastiveAugmentation? view = null)
    {
        var point = WeightsAt(curve, t);
        BatchNormReestimation.Recompute(arch, point, clean, normalization, batchSize, augmentation, seed, view);
        return point;
    }

    /// <summary>The curve's weights at <paramref name="t"/>, detached and copied; buffers are copies of Start's (not re-estimated).</summary>
    public static ParameterSet WeightsAt(BezierCurve curve, double t)
    {
        using var noGrad = GradMode.Disable();
        var point = new ParameterSet();
        foreach (var (name, tensor, role) in curve.WeightsAt(t))
        {
            var copy = tensor.Clone();
            // The interpolated tensor is pooled; return it now instead of waiting for a scope or the GC.
            if (role == TensorRole.Parameter) tensor.Dispose();
            point.Add(name, copy, role);
        }
        return point;
    }
}
