using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// PyTorch modules as functions of a <see cref="ParameterSet"/> and a key prefix, so forwards read
/// like the module definitions they mirror.
/// </summary>
public static class Layers
{
    /// <summary>PyTorch's BatchNorm2d default eps.</summary>
    public const float BatchNormEps = 1e-5f;

    /// <summary>
    /// nn.Conv2d with weight `prefix.weight` and, when <paramref name="bias"/>, `prefix.bias`. The output is
    /// shown to the context's activation observer under <paramref name="prefix"/>.
    /// </summary>
    /// <param name="residual">Added to the output (a residual connection): inside the op (see <see cref="Op.Conv2d"/>) when
    /// no activation observer looks; otherwise after the observer has seen the convolution's own output.</param>
    public static Tensor Conv(ParameterSet p, string prefix, Tensor x, ForwardContext ctx, int stride = 1, int padding = 0,
        bool bias = false, Tensor? residual = null)
    {
        if (residual is not null && ctx.ActivationObserver is not null)
            return Op.Add(Conv(p, prefix, x, ctx, stride, padding, bias), residual);
        var y = Op.Conv2d(x, p[prefix + ".weight"], bias ? p[prefix + ".bias"] : null, stride, padding, residual);
        ctx.ActivationObserver?.Observe(prefix, y);
        return y;
    }

    /// <summary>
    /// nn.BatchNorm2d / 1d. Training: batch statistics, reported to the context's observer under
    /// <paramref name="prefix"/> (the buffers themselves are never written here). Eval: running buffers.
    /// </summary>
    public static Tensor BatchNorm(ParameterSet p, string prefix, Tensor x, ForwardContext ctx, float eps = BatchNormEps)
    {
        var y = Op.BatchNorm(x, p[prefix + ".weight"], p[prefix + ".bias"], p[prefix + ".running_mean"], p[prefix + ".running_var"],
            ctx.Training, eps, out var stats);
        if (ctx.Training && stats is not null) ctx.BatchNormObserver?.Observe(prefix, stats);
        return y;
    }

    /// <summary>relu(bn(x)) through the fused op (one kept activation instead of two); BN statistics as in <see cref="BatchNorm"/>.</summary>
    /// <param name="temporary">x is a temporary that only this call reads (a convolution's output: activation observers
    /// may not keep it past their call): in eval mode without a graph it is then normalised in place
    /// (<see cref="Op.BatchNormReluInPlace"/>).</param>
    public static Tensor BatchNormRelu(ParameterSet p, string prefix, Tensor x, ForwardContext ctx, bool temporary = false)
    {
        Tensor weight = p[prefix + ".weight"], bias = p[prefix + ".bias"], mean = p[prefix + ".running_mean"], var = p[prefix + ".running_var"];
        if (temporary && !ctx.Training && !Tensor.NeedsGraph(x, weight, bias))
            return Op.BatchNormReluInPlace(x, weight, bias, mean, var, BatchNormEps);
        var y = Op.BatchNormRelu(x, weight, bias, mean, var, ctx.Training, BatchNormEps, out var stats);
        if (ctx.Training && stats is not null) ctx.BatchNormObserver?.Observe(prefix, stats);
        return y;
    }

    /// <summary>
    /// conv(relu(bn(x))) (+ <paramref name="residual"/>) through the fused op, which keeps no copy of the
    /// pre-activation for the backward (<see cref="Op.BatchNormReluConv2d"/>): for a pre-activation
    /// that only this convolution reads. BN statistics and the convolution's output are reported as by
    /// <see cref="BatchNormRelu"/> and <see cref="Conv"/>: the observer sees the convolution's output without the residual.
    /// </summary>
    /// <param name="temporary">x is a temporary only this call reads (as in <see cref="BatchNormRelu"/>): in eval mode
    /// without a graph it is then normalised in place, with no buffer for the pre-activation.</param>
    public static Tensor BatchNormReluConv(ParameterSet p, string bnPrefix, string convPrefix, Tensor x, ForwardContext ctx,
        int stride = 1, int padding = 0, bool convBias = false, Tensor? residual = null, bool temporary = false)
    {
        // The probe point `convPrefix` is the convolution's own output, before the residual add: an observer must see
        // that whatever this forward fuses (activation matching probes residual streams here).
        if (residual is not null && ctx.ActivationObserver is not null)
            return Op.Add(BatchNormReluConv(p, bnPrefix, convPrefix, x, ctx, stride, padding, convBias, residual: null, temporary), residual);
        Tensor bnWeight = p[bnPrefix + ".weight"], bnBias = p[bnPrefix + ".bias"];
        // Normalising in place keeps no pre-activation either; the convolution records its own graph if it needs one.
        if (temporary && !ctx.Training && !Tensor.NeedsGraph(x, bnWeight, bnBias))
            return Conv(p, convPrefix, BatchNormRelu(p, bnPrefix, x, ctx, temporary: true), ctx, stride, padding, convBias, residual);
        var y = Op.BatchNormReluConv2d(x, bnWeight, bnBias, p[bnPrefix + ".running_mean"], p[bnPrefix + ".running_var"],
            ctx.Training, BatchNormEps, out var stats, p[convPrefix + ".weight"], convBias ? p[convPrefix + ".bias"] : null, stride, padding, residual);
        if (ctx.Training && stats is not null) ctx.BatchNormObserver?.Observe(bnPrefix, stats);
        ctx.ActivationObserver?.Observe(convPrefix, y);
        return y;
    }

    /// <summary>relu(bn(conv(x))); the convolution is bias-free unless <paramref name="convBias"/>.</summary>
    public static Tensor ConvBnRelu(ParameterSet p, string convPrefix, string bnPrefix, Tensor x, ForwardContext ctx,
        int stride = 1, int padding = 1, bool convBias = false) =>
        BatchNormRelu(p, bnPrefix, Conv(p, convPrefix, x, ctx, stride, padding, convBias), ctx, temporary: true);

    /// <summary>
    /// nn.Linear with `prefix.weight` (out, in) and, when <paramref name="bias"/>, `prefix.bias` (out); the output
    /// (N, out) is shown to the context's activation observer under <paramref name="prefix"/>.
    /// </summary>
    public static Tensor Linear(ParameterSet p, string prefix, Tensor x, ForwardContext ctx, bool bias = true)
    {
        var y = Op.Linear(x, p[prefix + ".weight"], bias ? p[prefix + ".bias"] : null);
        ctx.ActivationObserver?.Observe(prefix, y);
        return y;
    }

    /// <summary>Channel count scaled by a width multiplier: round half to even (as Python's round), at least 1.</summary>
    public static int Scale(int channels, double multiplier) => Math.Max(1, (int)Math.Round(channels * multiplier));
}
