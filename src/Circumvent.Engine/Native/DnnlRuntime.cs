using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// The loaded library, its one CPU engine, and a stream per calling thread (oneDNN streams are not
/// thread-safe; on the CPU they cost nothing to keep).
/// </summary>
internal sealed unsafe class DnnlRuntime
{
    private static readonly Lazy<(DnnlRuntime? Runtime, string Reason)> Loaded = new(Load);
    [ThreadStatic] private static nint _stream;

    private DnnlRuntime(Dnnl api, nint engine)
    {
        Api = api;
        Engine = engine;
    }

    public Dnnl Api { get; }
    public nint Engine { get; }

    /// <summary>This thread's stream on <see cref="Engine"/>.</summary>
    public nint Stream
    {
        get
        {
            if (_stream != 0) return _stream;
            nint stream;
            Dnnl.Check(Api.StreamCreate(&stream, Engine, Dnnl.StreamDefaultFlags), "dnnl_stream_create");
            return _stream = stream;
        }
    }

    /// <summary>The process-wide runtime, or null with the reason oneDNN cannot be used here.</summary>
    public static DnnlRuntime? TryGet(out string reason)
    {
        var (runtime, why) = Loaded.Value;
        reason = why;
        return runtime;
    }

    /// <summary>
    /// A dense f32 memory descriptor in native memory (kept for the process, like the primitives that
    /// use it). <paramref name="tag"/> is a dnnl_format_tag_t, e.g. <see cref="Dnnl.FormatNchw"/> or
    /// <see cref="Dnnl.FormatAny"/> to let a primitive choose.
    /// </summary>
    public byte* CreateMd(int tag, params long[] dims)
    {
        var md = (byte*)NativeMemory.AllocZeroed(Dnnl.MemoryDescBytes);
        fixed (long* d = dims)
            Dnnl.Check(Api.MemoryDescInitByTag(md, dims.Length, d, Dnnl.F32, tag), "dnnl_memory_desc_init_by_tag");
        return md;
    }

    private static (DnnlRuntime?, string) Load()
    {
        var api = Dnnl.TryLoad(out var reason);
        if (api is null) return (null, reason);
        nint engine;
        int status = api.EngineCreate(&engine, Dnnl.EngineCpu, 0);
        return status == Dnnl.Success
            ? (new DnnlRuntime(api, engine), $"oneDNN {api.Version}")
            : (null, $"oneDNN {api.Version}: dnnl_engine_create failed with status {status}");
    }
}
