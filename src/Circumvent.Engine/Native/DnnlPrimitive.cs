namespace Circumvent.Engine.Native;

/// <summary>
/// A oneDNN primitive descriptor and the primitive made from it. Created once per shape and kept
/// (creation JIT-compiles kernels, execution is cheap); lives as long as the process.
/// Every primitive is made with a user-provided scratchpad, so concurrent executions of one
/// primitive from different threads each bring their own (see <see cref="DnnlCall"/>).
/// </summary>
internal sealed unsafe class DnnlPrimitive
{
    private readonly Dnnl _api;

    private DnnlPrimitive(Dnnl api, nint desc)
    {
        _api = api;
        Desc = desc;
        nint primitive;
        Dnnl.Check(api.PrimitiveCreate(&primitive, desc), "dnnl_primitive_create");
        Handle = primitive;
        Implementation = api.ImplementationName(desc);
        var scratch = Md(Dnnl.QueryScratchpad);
        ScratchpadBytes = scratch == null ? 0 : (long)api.MemoryDescGetSize(scratch);
    }

    public nint Desc { get; }
    public nint Handle { get; }

    /// <summary>oneDNN's name for the kernel it chose, e.g. "jit:avx512_common" or "gemm:jit".</summary>
    public string Implementation { get; }

    public long ScratchpadBytes { get; }

    /// <summary>The memory descriptor the primitive expects for one argument (owned by the descriptor).</summary>
    public byte* Md(int query) => _api.PrimitiveDescQueryMd(Desc, query, 0);

    /// <summary>From an initialised op descriptor (convolution forward/backward).</summary>
    public static DnnlPrimitive FromOpDesc(Dnnl api, nint engine, byte* opDesc, nint hintForward, string what)
    {
        var attr = CreateAttr(api, accumulate: false);
        try
        {
            nint desc;
            Dnnl.Check(api.PrimitiveDescCreate(&desc, opDesc, attr, engine, hintForward), $"dnnl_primitive_desc_create ({what})");
            return new DnnlPrimitive(api, desc);
        }
        finally { api.AttrDestroy(attr); }
    }

    /// <summary>A layout conversion src → dst; with <paramref name="accumulate"/> it adds into dst (a sum post-op).</summary>
    public static DnnlPrimitive Reorder(Dnnl api, nint engine, byte* src, byte* dst, bool accumulate)
    {
        var attr = CreateAttr(api, accumulate);
        try
        {
            nint desc;
            Dnnl.Check(api.ReorderPrimitiveDescCreate(&desc, src, engine, dst, engine, attr), "dnnl_reorder_primitive_desc_create");
            return new DnnlPrimitive(api, desc);
        }
        finally { api.AttrDestroy(attr); }
    }

    private static nint CreateAttr(Dnnl api, bool accumulate)
    {
        nint attr;
        Dnnl.Check(api.AttrCreate(&attr), "dnnl_primitive_attr_create");
        Dnnl.Check(api.AttrSetScratchpadMode(attr, Dnnl.ScratchpadUser), "dnnl_primitive_attr_set_scratchpad_mode");
        if (accumulate)
        {
            nint postOps;
            Dnnl.Check(api.PostOpsCreate(&postOps), "dnnl_post_ops_create");
            Dnnl.Check(api.PostOpsAppendSum(postOps, 1f), "dnnl_post_ops_append_sum");
            Dnnl.Check(api.AttrSetPostOps(attr, postOps), "dnnl_primitive_attr_set_post_ops");
            api.PostOpsDestroy(postOps);
        }
        return attr;
    }
}
