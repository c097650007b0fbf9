using Circumvent.Engine.Native;

namespace Circumvent.Tests.Engine;

/// <summary>The per-thread oneDNN workspace: aligned, non-overlapping, rewound, and still correct when a call's estimate falls short.</summary>
public unsafe class DnnlWorkspaceTests
{
    [Fact]
    public void TakesAreAlignedAndDisjointAndRewindReusesThem()
    {
        var ws = new DnnlWorkspace();
        long mark = ws.Begin(4096);
        Assert.Equal(0, mark);
        var a = (byte*)ws.Take(100);
        var b = (byte*)ws.Take(1);
        Assert.Equal(0, (long)a % 64);
        Assert.Equal(0, (long)b % 64);
        Assert.True(b >= a + 100);
        long inner = ws.Mark;
        var c = (byte*)ws.Take(64);
        ws.Rewind(inner);
        Assert.Equal((nint)c, (nint)ws.Take(64));
        ws.Rewind(mark);
        Assert.Equal(0, ws.Mark);
        Assert.Equal((nint)a, (nint)ws.Take(8));
        ws.Rewind(0);
    }

    [Fact]
    public void RequestsBeyondTheEstimateGetTheirOwnMemory()
    {
        var ws = new DnnlWorkspace();
        ws.Begin(128);
        var inside = (byte*)ws.Take(128);
        var beyond = (byte*)ws.Take(1 << 20);
        Assert.Equal(0, (long)beyond % 64);
        Assert.True(beyond + (1 << 20) <= inside || beyond >= inside + 128);
        new Span<byte>(beyond, 1 << 20).Fill(7); // writable end to end
        ws.Rewind(0);
        Assert.Equal(128, ws.CapacityBytes);
    }

    [Fact]
    public void GrowsOnlyBetweenCalls()
    {
        var ws = new DnnlWorkspace();
        ws.Begin(64);
        ws.Take(64);
        ws.Begin(1 << 16); // a call inside a call: the buffer in use must not move
        Assert.Equal(64, ws.CapacityBytes);
        ws.Rewind(0);
        ws.Begin(1 << 16);
        Assert.Equal(1 << 16, ws.CapacityBytes);
        ws.Rewind(0);
    }
}
