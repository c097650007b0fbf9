using System.Runtime.InteropServices;

namespace Circumvent.Engine.Native;

/// <summary>
/// The buffers of one round of primitive executions: user arrays pinned in place, temporaries and
/// scratchpads from this thread's <see cref="DnnlWorkspace"/>, and the dnnl_memory_t objects over
/// them. Dispose after the last execute.
/// </summary>
internal sealed unsafe class DnnlCall : IDisposable
{
    private readonly DnnlRuntime _runtime;
    private readonly DnnlWorkspace _workspace = DnnlWorkspace.Current;
    private readonly long _mark;
    private readonly List<GCHandle> _pins = [];
    private readonly List<nint> _memories = [];
    private Dnnl Api => _runtime.Api;

    /// <param name="workspaceBytes">What the call's temporaries and scratchpads will take (see
    /// <see cref="DnnlWorkspace.Begin"/>); an estimate that falls short costs an allocation, not an error.</param>
    public DnnlCall(DnnlRuntime runtime, long workspaceBytes)
    {
        _runtime = runtime;
        _mark = _workspace.Begin(workspaceBytes);
    }

    /// <summary>Memory with layout <paramref name="md"/> over <paramref name="array"/> itself, from element <paramref name="offset"/> on.</summary>
    public nint Wrap(byte* md, float[] array, int offset = 0)
    {
        if ((ulong)Api.MemoryDescGetSize(md) > (ulong)(array.Length - offset) * sizeof(float))
            throw new ArgumentException($"A {array.Length}-float array from element {offset} is smaller than the oneDNN memory over it.");
        return CreateMemory(md, (float*)Pin(array) + offset);
    }

    /// <summary>Memory with layout <paramref name="md"/> in the workspace (contents unspecified).</summary>
    public nint Temporary(byte* md) => CreateMemory(md, _workspace.Take((long)Api.MemoryDescGetSize(md)));

    /// <summary>Runs <paramref name="primitive"/> on this thread's stream, adding its scratchpad.</summary>
    public void Execute(DnnlPrimitive primitive, ReadOnlySpan<Dnnl.ExecArg> args)
    {
        int count = args.Length + (primitive.ScratchpadBytes > 0 ? 1 : 0);
        var all = stackalloc Dnnl.ExecArg[count];
        args.CopyTo(new Span<Dnnl.ExecArg>(all, count));
        // The scratchpad is only needed while the primitive runs: the next execution reuses its bytes.
        long beforeScratchpad = _workspace.Mark;
        if (primitive.ScratchpadBytes > 0)
            all[count - 1] = new Dnnl.ExecArg
            {
                Arg = Dnnl.ArgScratchpad,
                Memory = CreateMemory(primitive.Md(Dnnl.QueryScratchpad), _workspace.Take(primitive.ScratchpadBytes)),
            };
        Dnnl.Check(Api.PrimitiveExecute(primitive.Handle, _runtime.Stream, count, all), $"dnnl_primitive_execute ({primitive.Implementation})");
        Api.StreamWait(_runtime.Stream);
        _workspace.Rewind(beforeScratchpad);
    }

    // Every Execute has already waited for its primitive, so nothing can still be using these buffers.
    public void Dispose()
    {
        foreach (var m in _memories) Api.MemoryDestroy(m);
        foreach (var p in _pins) p.Free();
        _memories.Clear();
        _pins.Clear();
        _workspace.Rewind(_mark);
    }

    private nint Pin(float[] array)
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        _pins.Add(handle);
        return handle.AddrOfPinnedObject();
    }

    private nint CreateMemory(byte* md, void* data)
    {
        nint memory;
        Dnnl.Check(Api.MemoryCreate(&memory, md, _runtime.Engine, data), "dnnl_memory_create");
        _memories.Add(memory);
        return memory;
    }
}
