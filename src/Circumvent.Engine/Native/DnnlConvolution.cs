using Circumvent.Engine.Kernels;

namespace Circumvent.Engine.Native;

/// <summary>Everything that selects one set of convolution primitives.</summary>
/// <param name="Blocked">Let oneDNN choose the layouts (nChw16c activations, blocked weights) and reorder
/// our NCHW/OIHW tensors to and from them around each call; false runs on NCHW/OIHW directly.</param>
/// <param name="Winograd">Let oneDNN pick Winograd (F(4×4, 3×3)) where it has a kernel for the shape and expects it
/// to pay (its convolution_auto); false always runs the direct algorithm.</param>
/// <param name="Threads">OpenMP threads the primitives were created for (they split work by it).</param>
internal readonly record struct DnnlConvKey(int Batch, ConvGeometry Geometry, int OutChannels, bool Bias, bool Blocked, bool Winograd, int Threads);

/// <summary>
/// oneDNN forward, backward-data and backward-weights primitives for one convolution shape, each made
/// on first use, with the reorders between our NCHW/OIHW arrays and the layouts they chose.
/// Shapes: x (N, C, H, W), w (O, C, kH, kW), bias (O), y (N, O, Ho, Wo), all dense f32.
/// </summary>
internal sealed unsafe class DnnlConvolution
{
    private readonly DnnlRuntime _rt;
    private readonly DnnlConvKey _key;
    // Our layouts of each tensor.
    private readonly byte* _srcMd, _weightsMd, _biasMd, _dstMd;
    // The primitives' descriptors of src/weights/dst: ours, or "any" to let oneDNN choose.
    private readonly byte* _primitiveSrcMd, _primitiveWeightsMd, _primitiveDstMd;
    private readonly Lazy<DnnlPrimitive> _forward, _backwardData, _backwardWeights;
    private readonly Dictionary<(nint From, nint To, bool Accumulate), DnnlPrimitive> _reorders = [];

    public DnnlConvolution(DnnlRuntime runtime, DnnlConvKey key)
    {
        _rt = runtime;
        _key = key;
        var g = key.Geometry;
        _srcMd = runtime.CreateMd(Dnnl.FormatNchw, key.Batch, g.Channels, g.Height, g.Width);
        _weightsMd = runtime.CreateMd(Dnnl.FormatOihw, key.OutChannels, g.Channels, g.KernelH, g.KernelW);
        _biasMd = runtime.CreateMd(Dnnl.FormatA, key.OutChannels);
        _dstMd = runtime.CreateMd(Dnnl.FormatNchw, key.Batch, key.OutChannels, g.OutHeight, g.OutWidth);
        _primitiveSrcMd = key.Blocked ? runtime.CreateMd(Dnnl.FormatAny, key.Batch, g.Channels, g.Height, g.Width) : _srcMd;
        _primitiveWeightsMd = key.Blocked ? runtime.CreateMd(Dnnl.FormatAny, key.OutChannels, g.Channels, g.KernelH, g.KernelW) : _weightsMd;
        _primitiveDstMd = key.Blocked ? runtime.CreateMd(Dnnl.FormatAny, key.Batch, key.OutChannels, g.OutHeight, g.OutWidth) : _dstMd;
        _forward = new(CreateForward);
        _backwardData = new(CreateBackwardData);
        _backwardWeights = new(CreateBackwardWeights);
    }

    /// <summary>Samples per call.</summary>
    public int Batch => _key.Batch;

    /// <summary>oneDNN's kernel names, for benchmarks and diagnostics.</summary>
    public string ForwardImplementation => _forward.Value.Implementation;

    /// <summary>
    /// y = conv(x, w) + bias; y is overwritten. The arrays may hold more samples than this primitive's
    /// batch: it then works on samples [<paramref name="firstSample"/>, firstSample + Batch) of x and y.
    /// </summary>
    public void Forward(float[] x, float[] w, float[]? bias, float[] y, int firstSample = 0) =>
        Run(_forward.Value, new(Dnnl.ArgSrc, Dnnl.QuerySrc, (nint)_srcMd, x, firstSample * SrcSample), new(Dnnl.ArgWeights, Dnnl.QueryWeights, (nint)_weightsMd, w),
            new(Dnnl.ArgDst, Dnnl.QueryDst, (nint)_dstMd, y, firstSample * DstSample), accumulate: false, bias);

    /// <summary>dx = Wᵀ ⋆ dy, written or (with <paramref name="accumulate"/>) added into dx (samples as in <see cref="Forward"/>).</summary>
    public void BackwardData(float[] gy, float[] w, float[] dx, bool accumulate, int firstSample = 0) =>
        Run(_backwardData.Value, new(Dnnl.ArgDiffDst, Dnnl.QueryDiffDst, (nint)_dstMd, gy, firstSample * DstSample), new(Dnnl.ArgWeights, Dnnl.QueryWeights, (nint)_weightsMd, w),
            new(Dnnl.ArgDiffSrc, Dnnl.QueryDiffSrc, (nint)_srcMd, dx, firstSample * SrcSample), accumulate);

    /// <summary>dW = Σₙ dyₙ ⋆ xₙ over this primitive's samples (as in <see cref="Forward"/>), written or (with <paramref name="accumulate"/>) added into dw.</summary>
    public void BackwardWeights(float[] x, float[] gy, float[] dw, bool accumulate, int firstSample = 0) =>
        Run(_backwardWeights.Value, new(Dnnl.ArgSrc, Dnnl.QuerySrc, (nint)_srcMd, x, firstSample * SrcSample), new(Dnnl.ArgDiffDst, Dnnl.QueryDiffDst, (nint)_dstMd, gy, firstSample * DstSample),
            new(Dnnl.ArgDiffWeights, Dnnl.QueryDiffWeights, (nint)_weightsMd, dw), accumulate);

    /// <summary>Bytes of this thread's workspace each call takes at most (temporaries and scratchpad).</summary>
    public long ForwardWorkspaceBytes => WorkspaceBytes(_forward.Value, Dnnl.QuerySrc, Dnnl.QueryWeights, Dnnl.QueryDst);
    public long BackwardDataWorkspaceBytes => WorkspaceBytes(_backwardData.Value, Dnnl.QueryDiffDst, Dnnl.QueryWeights, Dnnl.QueryDiffSrc);
    public long BackwardWeightsWorkspaceBytes => WorkspaceBytes(_backwardWeights.Value, Dnnl.QuerySrc, Dnnl.QueryDiffDst, Dnnl.QueryDiffWeights);

    // Floats per sample of x and of y.
    private int SrcSample => _key.Geometry.ImageSize;
    private int DstSample => _key.OutChannels * _key.Geometry.ColumnCols;

    // One of our arrays as a primitive argument: its dnnl_exec_arg_t id, the query for the layout the
    // primitive wants, our layout's descriptor, and where in the array the operand starts.
    private readonly record struct Operand(int Arg, int Query, nint Ours, float[] Data, int Offset = 0);

    // Two inputs (and the forward's bias, which stays in our layout) → one result.
    private void Run(DnnlPrimitive p, Operand first, Operand second, Operand result, bool accumulate, float[]? bias = null)
    {
        using var call = new DnnlCall(_rt, WorkspaceBytes(p, first.Query, second.Query, result.Query));
        var (output, finish) = Output(call, p, result, accumulate);
        Span<Dnnl.ExecArg> args = [Input(call, p, first), Input(call, p, second), new() { Arg = result.Arg, Memory = output }, default];
        int count = 3;
        if (bias is not null) args[count++] = new() { Arg = Dnnl.ArgBias, Memory = call.Wrap(_biasMd, bias) };
        call.Execute(p, args[..count]);
        finish?.Invoke();
    }

    // Room for the worst case: every operand in a temporary of the primitive's layout, plus its scratchpad.
    private long WorkspaceBytes(DnnlPrimitive p, int first, int second, int result) =>
        Rounded(p, first) + Rounded(p, second) + Rounded(p, result) + DnnlWorkspace.RoundUp(p.ScratchpadBytes);

    private long Rounded(DnnlPrimitive p, int query) => DnnlWorkspace.RoundUp((long)_rt.Api.MemoryDescGetSize(p.Md(query)));

    // Our array as the primitive's argument, reordered into a temporary when the layouts differ.
    private Dnnl.ExecArg Input(DnnlCall call, DnnlPrimitive p, Operand operand)
    {
        byte* ours = (byte*)operand.Ours, wanted = p.Md(operand.Query);
        var memory = call.Wrap(ours, operand.Data, operand.Offset);
        if (_rt.Api.MemoryDescEqual(ours, wanted) == 0)
        {
            var converted = call.Temporary(wanted);
            call.Execute(Reorder(ours, wanted, accumulate: false), [From(memory), To(converted)]);
            memory = converted;
        }
        return new Dnnl.ExecArg { Arg = operand.Arg, Memory = memory };
    }

    // Memory the primitive writes its result to, and what must run afterwards to land it in our array:
    // nothing when it can write there directly, else a reorder (adding when accumulating).
    private (nint Memory, Action? Finish) Output(DnnlCall call, DnnlPrimitive p, Operand result, bool accumulate)
    {
        byte* ours = (byte*)result.Ours, produced = p.Md(result.Query);
        var target = call.Wrap(ours, result.Data, result.Offset);
        if (!accumulate && _rt.Api.MemoryDescEqual(ours, produced) != 0) return (target, null);
        var temporary = call.Temporary(produced);
        var reorder = Reorder(produced, ours, accumulate);
        return (temporary, () => call.Execute(reorder, [From(temporary), To(target)]));
    }

    private DnnlPrimitive Reorder(byte* from, byte* to, bool accumulate)
    {
        lock (_reorders)
        {
            var key = ((nint)from, (nint)to, accumulate);
            if (!_reorders.TryGetValue(key, out var reorder))
                _reorders[key] = reorder = DnnlPrimitive.Reorder(_rt.Api, _rt.Engine, from, to, accumulate);
            return reorder;
        }
    }

    private static Dnnl.ExecArg From(nint memory) => new() { Arg = Dnnl.ArgFrom, Memory = memory };
    private static Dnnl.ExecArg To(nint memory) => new() { Arg = Dnnl.ArgTo, Memory = memory };

    private DnnlPrimitive CreateForward() => Create("forward", 0, (desc, strides, pad) =>
        _rt.Api.ConvForwardDescInit(desc, Dnnl.ForwardTraining, Algorithm,
            _primitiveSrcMd, _primitiveWeightsMd, _key.Bias ? _biasMd : null, _primitiveDstMd, strides, pad, pad));

    private DnnlPrimitive CreateBackwardData() => Create("backward_data", _forward.Value.Desc, (desc, strides, pad) =>
        _rt.Api.ConvBackwardDataDescInit(desc, Algorithm, _primitiveSrcMd, _primitiveWeightsMd, _primitiveDstMd, strides, pad, pad));

    // The bias gradient stays with ConvKernels.BiasBackward (one pass over dy), so no diff_bias here.
    private DnnlPrimitive CreateBackwardWeights() => Create("backward_weights", _forward.Value.Desc, (desc, strides, pad) =>
        _rt.Api.ConvBackwardWeightsDescInit(desc, Algorithm, _primitiveSrcMd, _primitiveWeightsMd, null, _primitiveDstMd, strides, pad, pad));

    private int Algorithm => _key.Winograd ? Dnnl.ConvolutionAuto : Dnnl.ConvolutionDirect;

    private delegate int DescInit(byte* desc, long* strides, long* padding);

    // Fills a dnnl_convolution_desc_t (stride and symmetric padding per spatial axis) and makes its
    // primitive; backward ones take the forward descriptor as their hint.
    private DnnlPrimitive Create(string what, nint hintForward, DescInit init)
    {
        var desc = stackalloc byte[Dnnl.OpDescBytes];
        long* strides = stackalloc long[2], padding = stackalloc long[2];
        strides[0] = strides[1] = _key.Geometry.Stride;
        padding[0] = padding[1] = _key.Geometry.Padding;
        Dnnl.Check(init(desc, strides, padding), $"dnnl_convolution_{what}_desc_init");
        return DnnlPrimitive.FromOpDesc(_rt.Api, _rt.Engine, desc, hintForward, $"convolution {what}");
    }
}
