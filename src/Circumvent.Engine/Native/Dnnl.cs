using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// The part of oneDNN's 2.x C API (libdnnl.so.2, dnnl.h) the convolution backend uses, bound at run
/// time with <see cref="NativeLibrary"/> so the engine runs without it. Signatures and constants are
/// those of oneDNN 2.6 (Debian libdnnl2); the soname pins the 2.x ABI.
/// NOTE: dnnl_memory_desc_t (696 bytes) and dnnl_convolution_desc_t (5,976 bytes) are C structs the
/// library fills in; every call takes them by pointer, so they are kept as opaque buffers of
/// <see cref="MemoryDescBytes"/> / <see cref="OpDescBytes"/> bytes (with room to spare).
/// </summary>
internal sealed unsafe class Dnnl
{
    public const int MemoryDescBytes = 1024, OpDescBytes = 8192;

    // dnnl_types.h enums
    public const int Success = 0;
    public const int F32 = 3;
    public const int FormatAny = 1, FormatA = 2, FormatNchw = 5, FormatOihw = 5;
    public const int ForwardTraining = 64;
    public const int ConvolutionDirect = 1, ConvolutionAuto = 3;
    public const int EngineCpu = 1, StreamDefaultFlags = 1;
    public const int ScratchpadUser = 1;
    public const int QueryImplInfo = 8, QuerySrc = 129, QueryDiffSrc = 130, QueryWeights = 131,
        QueryDiffWeights = 132, QueryDst = 133, QueryDiffDst = 134, QueryScratchpad = 136;
    public const int ArgSrc = 1, ArgDst = 17, ArgWeights = 33, ArgBias = 41, ArgScratchpad = 80,
        ArgDiffSrc = 129, ArgDiffDst = 145, ArgDiffWeights = 161, ArgFrom = ArgSrc, ArgTo = ArgDst;
    public const uint RuntimeOmp = 2;

    /// <summary>dnnl_exec_arg_t: { int arg; dnnl_memory_t memory; }.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ExecArg
    {
        public int Arg;
        public nint Memory;
    }

    private static readonly Lazy<(Dnnl? Api, string Reason)> Loaded = new(Load);

    private Dnnl(nint handle, string version, uint cpuRuntime)
    {
        nint Fn(string name) => NativeLibrary.GetExport(handle, name);
        Version = version;
        CpuRuntime = cpuRuntime;
        EngineCreate = (delegate* unmanaged<nint*, int, nuint, int>)Fn("dnnl_engine_create");
        StreamCreate = (delegate* unmanaged<nint*, nint, uint, int>)Fn("dnnl_stream_create");
        StreamDestroy = (delegate* unmanaged<nint, int>)Fn("dnnl_stream_destroy");
        MemoryDescInitByTag = (delegate* unmanaged<byte*, int, long*, int, int, int>)Fn("dnnl_memory_desc_init_by_tag");
        MemoryDescEqual = (delegate* unmanaged<byte*, byte*, int>)Fn("dnnl_memory_desc_equal");
        MemoryDescGetSize = (delegate* unmanaged<byte*, nuint>)Fn("dnnl_memory_desc_get_size");
        ConvForwardDescInit = (delegate* unmanaged<byte*, int, int, byte*, byte*, byte*, byte*, long*, long*, long*, int>)Fn("dnnl_convolution_forward_desc_init");
        ConvBackwardDataDescInit = (delegate* unmanaged<byte*, int, byte*, byte*, byte*, long*, long*, long*, int>)Fn("dnnl_convolution_backward_data_desc_init");
        ConvBackwardWeightsDescInit = (delegate* unmanaged<byte*, int, byte*, byte*, byte*, byte*, long*, long*, long*, int>)Fn("dnnl_convolution_backward_weights_desc_init");
        AttrCreate = (delegate* unmanaged<nint*, int>)Fn("dnnl_primitive_attr_create");
        AttrDestroy = (delegate* unmanaged<nint, int>)Fn("dnnl_primitive_attr_destroy");
        AttrSetScratchpadMode = (delegate* unmanaged<nint, int, int>)Fn("dnnl_primitive_attr_set_scratchpad_mode");
        AttrSetPostOps = (delegate* unmanaged<nint, nint, int>)Fn("dnnl_primitive_attr_set_post_ops");
        PostOpsCreate = (delegate* unmanaged<nint*, int>)Fn("dnnl_post_ops_create");
        PostOpsDestroy = (delegate* unmanaged<nint, int>)Fn("dnnl_post_ops_destroy");
        PostOpsAppendSum = (delegate* unmanaged<nint, float, int>)Fn("dnnl_post_ops_append_sum");
        PrimitiveDescCreate = (delegate* unmanaged<nint*, byte*, nint, nint, nint, int>)Fn("dnnl_primitive_desc_create");
        PrimitiveDescQuery = (delegate* unmanaged<nint, int, int, void*, int>)Fn("dnnl_primitive_desc_query");
        PrimitiveDescQueryMd = (delegate* unmanaged<nint, int, int, byte*>)Fn("dnnl_primitive_desc_query_md");
        PrimitiveDescDestroy = (delegate* unmanaged<nint, int>)Fn("dnnl_primitive_desc_destroy");
        ReorderPrimitiveDescCreate = (delegate* unmanaged<nint*, byte*, nint, byte*, nint, nint, int>)Fn("dnnl_reorder_primitive_desc_create");
        PrimitiveCreate = (delegate* unmanaged<nint*, nint, int>)Fn("dnnl_primitive_create");
        PrimitiveDestroy = (delegate* unmanaged<nint, int>)Fn("dnnl_primitive_destroy");
        PrimitiveExecute = (delegate* unmanaged<nint, nint, int, ExecArg*, int>)Fn("dnnl_primitive_execute");
        MemoryCreate = (delegate* unmanaged<nint*, byte*, nint, void*, int>)Fn("dnnl_memory_create");
        MemoryDestroy = (delegate* unmanaged<nint, int>)Fn("dnnl_memory_destroy");
        StreamWait = (delegate* unmanaged<nint, int>)Fn("dnnl_stream_wait");
    }

    /// <summary>e.g. "2.6.3".</summary>
    public string Version { get; }

    /// <summary>The threading runtime the library was built with (<see cref="RuntimeOmp"/> for Debian's).</summary>
    public uint CpuRuntime { get; }

    public readonly delegate* unmanaged<nint*, int, nuint, int> EngineCreate;
    public readonly delegate* unmanaged<nint*, nint, uint, int> StreamCreate;
    public readonly delegate* unmanaged<nint, int> StreamDestroy;
    public readonly delegate* unmanaged<byte*, int, long*, int, int, int> MemoryDescInitByTag;
    public readonly delegate* unmanaged<byte*, byte*, int> MemoryDescEqual;
    public readonly delegate* unmanaged<byte*, nuint> MemoryDescGetSize;
    public readonly delegate* unmanaged<byte*, int, int, byte*, byte*, byte*, byte*, long*, long*, long*, int> ConvForwardDescInit;
    public readonly delegate* unmanaged<byte*, int, byte*, byte*, byte*, long*, long*, long*, int> ConvBackwardDataDescInit;
    public readonly delegate* unmanaged<byte*, int, byte*, byte*, byte*, byte*, long*, long*, long*, int> ConvBackwardWeightsDescInit;
    public readonly delegate* unmanaged<nint*, int> AttrCreate;
    public readonly delegate* unmanaged<nint, int> AttrDestroy;
    public readonly delegate* unmanaged<nint, int, int> AttrSetScratchpadMode;
    public readonly delegate* unmanaged<nint, nint, int> AttrSetPostOps;
    public readonly delegate* unmanaged<nint*, int> PostOpsCreate;
    public readonly delegate* unmanaged<nint, int> PostOpsDestroy;
    public readonly delegate* unmanaged<nint, float, int> PostOpsAppendSum;
    public readonly delegate* unmanaged<nint*, byte*, nint, nint, nint, int> PrimitiveDescCreate;
    public readonly delegate* unmanaged<nint, int, int, void*, int> PrimitiveDescQuery;
    public readonly delegate* unmanaged<nint, int, int, byte*> PrimitiveDescQueryMd;
    public readonly delegate* unmanaged<nint, int> PrimitiveDescDestroy;
    public readonly delegate* unmanaged<nint*, byte*, nint, byte*, nint, nint, int> ReorderPrimitiveDescCreate;
    public readonly delegate* unmanaged<nint*, nint, int> PrimitiveCreate;
    public readonly delegate* unmanaged<nint, int> PrimitiveDestroy;
    public readonly delegate* unmanaged<nint, nint, int, ExecArg*, int> PrimitiveExecute;
    public readonly delegate* unmanaged<nint*, byte*, nint, void*, int> MemoryCreate;
    public readonly delegate* unmanaged<nint, int> MemoryDestroy;
    public readonly delegate* unmanaged<nint, int> StreamWait;

    /// <summary>The process-wide binding, or null with the reason libdnnl could not be used.</summary>
    public static Dnnl? TryLoad(out string reason)
    {
        var (api, why) = Loaded.Value;
        reason = why;
        return api;
    }

    /// <summary>Throws with the call's name when a dnnl_status_t is not dnnl_success.</summary>
    public static void Check(int status, string call)
    {
        if (status != Success)
            throw new InvalidOperationException($"oneDNN {call} failed with status {status}.");
    }

    /// <summary>The implementation oneDNN picked for a primitive descriptor, e.g. "jit:avx512_common".</summary>
    public string ImplementationName(nint primitiveDesc)
    {
        byte* name = null;
        return PrimitiveDescQuery(primitiveDesc, QueryImplInfo, 0, &name) == Success && name != null
            ? Marshal.PtrToStringUTF8((nint)name) ?? "?" : "?";
    }

    // CIRCUMVENT_DNNL_LIBRARY names another build (or, in CI, a missing one to test the fallback).
    private static (Dnnl?, string) Load()
    {
        var library = Environment.GetEnvironmentVariable("CIRCUMVENT_DNNL_LIBRARY") is { Length: > 0 } path ? path : "libdnnl.so.2";
        OpenMpThreads.PreferSleepingWorkers();
        if (!NativeLibrary.TryLoad(library, out var handle))
            return (null, $"{library} not loadable (Debian package libdnnl2)");
        try
        {
            // dnnl_version_t: { int major, minor, patch; const char *hash; unsigned cpu_runtime; ... }
            var version = (int*)((delegate* unmanaged<nint>)NativeLibrary.GetExport(handle, "dnnl_version"))();
            if (version[0] != 2)
                return (null, $"{library} reports version {version[0]}.{version[1]}, expected the 2.x C API");
            uint runtime = *(uint*)((byte*)version + 24);
            return (new Dnnl(handle, $"{version[0]}.{version[1]}.{version[2]}", runtime), $"loaded {library}");
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"{library} lacks an export: {e.Message}");
        }
    }
}
