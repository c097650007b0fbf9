namespace Circumvent.Engine.Kernels;

/// <summary>
/// Per-thread packing buffers for <see cref="ManagedGemm"/>: pinned arrays allocated once per
/// thread and grown only when a larger block is needed, so steady-state calls allocate nothing.
/// Pointers are 64-byte aligned so packed panels start on cache lines.
/// </summary>
internal sealed unsafe class ManagedGemmWorkspace
{
    [ThreadStatic] private static ManagedGemmWorkspace? _current;

    private float[] _aStore = [], _bStore = [], _tileStore = [];
    private int _kcCapacity, _ncCapacity;

    /// <summary>Packed A block: (MC × kc) as MC/MR micro-panels of (kc × MR).</summary>
    public float* A { get; private set; }
    /// <summary>Packed B block: (kc × nc) as nc/NR micro-panels of (kc × NR).</summary>
    public float* B { get; private set; }
    /// <summary>Scratch (MR × NR) tile for edge tiles.</summary>
    public float* Tile { get; private set; }

    public static ManagedGemmWorkspace ForCurrentThread(int kc, int nc)
    {
        var work = _current ??= new ManagedGemmWorkspace();
        work.Ensure(kc, nc);
        return work;
    }

    private void Ensure(int kc, int nc)
    {
        if (Tile == null) Tile = Allocate(ManagedGemm.MR * ManagedGemm.NR, out _tileStore);
        if (kc <= _kcCapacity && nc <= _ncCapacity) return;
        _kcCapacity = Math.Max(kc, _kcCapacity);
        _ncCapacity = Math.Max(nc, _ncCapacity);
        // +8: the vectorised A packing writes up to 2 floats past the last panel.
        A = Allocate(ManagedGemm.MC * _kcCapacity + 8, out _aStore);
        B = Allocate(_kcCapacity * _ncCapacity, out _bStore);
    }

    private static float* Allocate(int floats, out float[] store)
    {
        // 16 spare floats = 64 bytes of room to align the start.
        store = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
        fixed (float* p = store)
            return (float*)(((nint)p + 63) & ~(nint)63);
    }
}
