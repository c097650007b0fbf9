using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;

namespace Circumvent.Engine;

public static partial class Op
{
    /// <summary>
    /// conv2d(relu(batch_norm(x)), convWeight, convBias) (+ residual) as one op that never keeps the
    /// pre-activation a = relu(batch_norm(x)): the forward computes it into a pooled buffer and frees it
    /// after the convolution; the backward computes it again from x with the saved batch statistics
    /// (one elementwise pass, bit-identical) for the convolution's weight gradient and the ReLU mask.
    /// A training step then holds only x, which its producer's output keeps anyway, where the two ops
    /// would hold x and a. In PreAct-ResNet18 at batch 128 this took the training step's peak from 953
    /// to 862 MB for 1–2% of the speed (BENCHMARKS.md). Same arguments, results and batch statistics as
    /// <see cref="BatchNormRelu"/> followed by <see cref="Conv2d"/>; a is only ever needed by this
    /// convolution, so use the two ops where another reader needs it.
    /// </summary>
    public static Tensor BatchNormReluConv2d(Tensor x, Tensor bnWeight, Tensor bnBias, Tensor runningMean, Tensor runningVar,
        bool training, float eps, out BatchStatistics? batchStats,
        Tensor convWeight, Tensor? convBias, int stride = 1, int padding = 0, Tensor? residual = null)
    {
        if (Autograd.ActivationPattern.Current is not null) // unfused, so the ReLU takes the pattern's mask
            return Conv2d(BatchNormRelu(x, bnWeight, bnBias, runningMean, runningVar, training, eps, out batchStats),
                convWeight, convBias, stride, padding, residual);
        CheckBatchNorm(x, bnWeight, bnBias, runningMean, runningVar, training);
        var g = CheckConv2d(x, convWeight, convBias, stride, padding);
        var shape = new BatchNormShape(x);
        int n = x.Shape[0], o = convWeight.Shape[0];
        var (mean, invStd) = NormalizingMoments(x, runningMean, runningVar, training, eps, out batchStats);
        float[] xd = x.Data, bnW = bnWeight.Data, bnB = bnBias.Data;

        // a = relu(batch_norm(x)) into a pooled buffer: the same kernel, statistics and split every time it is built.
        float[] PreActivation()
        {
            var a = BufferPool.Rent(xd.Length);
            NormalizePlanes(shape, xd, a, mean, invStd, bnW, bnB, relu: true);
            return a;
        }

        var y = Tensor.Empty(n, o, g.OutHeight, g.OutWidth);
        var forwardA = PreActivation();
        ConvBackend.Forward(g, n, o, forwardA, convWeight.Data, convBias?.Data, y.Data);
        BufferPool.Return(forwardA);
        if (residual is not null) AddResidual(y, residual);

        var inputs = new List<Tensor> { x, bnWeight, bnBias, convWeight };
        if (convBias is not null) inputs.Add(convBias);
        if (residual is not null) inputs.Add(residual);
        return y.WithBackward(training ? "batch_norm_relu_conv2d_train" : "batch_norm_relu_conv2d_eval", [.. inputs], gy =>
        {
            ResidualAndBiasGrads(gy, residual, convBias, n, o, g);
            bool throughNorm = x.RequiresGrad || bnWeight.RequiresGrad || bnBias.RequiresGrad;
            if (!throughNorm && !convWeight.RequiresGrad) return;

            var a = PreActivation();
            // The gradient with respect to a: oneDNN overwrites a fresh buffer, im2col adds into zeros.
            bool overwrites = ConvBackend.UsesDnnl(g), dwFresh = false;
            float[]? da = throughNorm ? (overwrites ? BufferPool.Rent(a.Length) : BufferPool.RentZeroed(a.Length)) : null;
            float[]? dw = convWeight.RequiresGrad ? ConvGradArray(convWeight, overwrites, out dwFresh) : null;
            ConvBackend.Backward(g, n, o, a, convWeight.Data, gy.Data, da, dxFresh: true, dw, dwFresh);
            if (da is not null)
            {
                bool dxFresh = false;
                float[]? dx = x.RequiresGrad ? x.GradForWrite(out dxFresh) : null;
                BatchNormBackward(shape, xd, da, a, mean, invStd, bnW, training, dx, dxFresh,
                    bnWeight.RequiresGrad ? GradArray(bnWeight) : null, bnBias.RequiresGrad ? GradArray(bnBias) : null);
                BufferPool.Return(da);
            }
            BufferPool.Return(a);
        });
    }
}
