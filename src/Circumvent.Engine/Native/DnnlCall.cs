using System.Runtime.InteropServices;
using Circumvent.Engine.Memory;

namespace Circumvent.Engine.Native;

/// <summary>
/// The buffers of one round of primitive executions: user arrays pinned in place, temporaries and
/// scratchpads rented from <see cref="BufferPool"/> (so a training step's repeated shapes reuse them)
/// and aligned to 64 bytes, and the dnnl_memory_t objects over them. Dispose after the last execute.
/// </summary>
internal sealed unsafe class DnnlCall(DnnlRuntime runtime) : IDisposable
{
    private const int Alignment = 64;
    private readonly List<GCHandle> _pins = [];
    private readonly List<float[]> _rented = [];
    private readonly List<nint> _memories = [];
    private Dnnl Api => runtime.Api;

    /// <summary>Memory with layout <paramref name="md"/> over <paramref name="array"/> itself.</summary>
    public nint Wrap(byte* md, float[] array) => CreateMemory(md, (void*)Pin(array));

    /// <summary>Memory with layout <paramref name="md"/> over a pooled temporary (contents unspecified).</summary>
    public nint Temporary(byte* md) => CreateMemory(md, RentAligned((long)Api.MemoryDescGetSize(md)));

    /// <summary>Runs <paramref name="primitive"/> on this thread's stream, adding its scratchpad.</summary>
    public void Execute(DnnlPrimitive primitive, ReadOnlySpan<Dnnl.ExecArg> args)
    {
        int count = args.Length + (primitive.ScratchpadBytes > 0 ? 1 : 0);
        var all = stackalloc Dnnl.ExecArg[count];
        args.CopyTo(new Span<Dnnl.ExecArg>(all, count));
        if (primitive.ScratchpadBytes > 0)
            all[count - 1] = new Dnnl.ExecArg
            {
                Arg = Dnnl.ArgScratchpad,
                Memory = CreateMemory(primitive.Md(Dnnl.QueryScratchpad), RentAligned(primitive.ScratchpadBytes)),
            };
        Dnnl.Check(Api.PrimitiveExecute(primitive.Handle, runtime.Stream, count, all), $"dnnl_primitive_execute ({primitive.Implementation})");
    }

    public void Dispose()
    {
        Api.StreamWait(runtime.Stream);
        foreach (var m in _memories) Api.MemoryDestroy(m);
        foreach (var p in _pins) p.Free();
        foreach (var r in _rented) BufferPool.Return(r);
        _memories.Clear();
        _pins.Clear();
        _rented.Clear();
    }

    private nint Pin(float[] array)
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        _pins.Add(handle);
        return handle.AddrOfPinnedObject();
    }

    // NOTE: .NET arrays are only 8- or 16-byte aligned; oneDNN's blocked kernels want 64.
    private void* RentAligned(long bytes)
    {
        long floats = (bytes + sizeof(float) - 1) / sizeof(float) + Alignment / sizeof(float);
        var buffer = BufferPool.Rent(checked((int)floats));
        _rented.Add(buffer);
        nint address = Pin(buffer);
        return (void*)((address + Alignment - 1) & ~(nint)(Alignment - 1));
    }

    private nint CreateMemory(byte* md, void* data)
    {
        nint memory;
        Dnnl.Check(Api.MemoryCreate(&memory, md, runtime.Engine, data), "dnnl_memory_create");
        _memories.Add(memory);
        return memory;
    }
}
