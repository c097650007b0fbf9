using System.Diagnostics;
using Circumvent.Engine;
using Circumvent.Engine.Diagnostics;
using Circumvent.Engine.Optim;
using Xunit;

namespace Circumvent.Tests.Engine;

// The profiler is process-wide (one session at a time): keep these tests out of parallel collections.
[Collection(nameof(OpProfilerTests))]
[CollectionDefinition(nameof(OpProfilerTests), DisableParallelization = true)]
public sealed class OpProfilerTests
{
    private static (Tensor W, Tensor X) Inputs()
    {
        var rng = new Random(3);
        var w = Tensor.Randn(rng, 64, 32);
        w.RequiresGrad = true;
        return (w, Tensor.Randn(rng, 16, 64));
    }

    private static void Step(Tensor w, Tensor x, Sgd sgd)
    {
        sgd.ZeroGrad();
        var loss = Op.Mean(Op.Relu(Op.MatMul(x, w)));
        loss.Backward();
        sgd.Step();
    }

    [Fact]
    public void SessionRecordsForwardBackwardAndOptimizerRowsThatAddUpToWallTime()
    {
        var (w, x) = Inputs();
        var sgd = new Sgd([w], 0.1, 0.9, 0);
        IReadOnlyList<OpProfiler.Row> rows;
        var clock = Stopwatch.StartNew();
        using (var session = OpProfiler.Session())
        {
            for (int i = 0; i < 3; i++) Step(w, x, sgd);
            rows = session.Rows();
        }
        double wall = clock.Elapsed.TotalSeconds;
        var names = rows.Select(r => r.Name).ToHashSet();
        foreach (var expected in new[] { "matmul", "relu", "mean", "matmul backward", "relu backward", "mean backward", "sgd step" })
            Assert.Contains(expected, names);
        Assert.Equal(3, rows.Single(r => r.Name == "relu").Calls);
        Assert.Equal(3, rows.Single(r => r.Name == "matmul backward").Calls);
        Assert.Equal(3, rows.Single(r => r.Name == "sgd step").Calls);
        // Every interval is charged to exactly one row, so the rows cannot exceed the wall time around the session.
        double total = rows.Sum(r => r.Seconds);
        Assert.True(total > 0 && total <= wall, $"rows sum to {total} s, wall time {wall} s");
    }

    [Fact]
    public void NothingIsRecordedOutsideASessionAndResetDropsWarmUp()
    {
        var (w, x) = Inputs();
        var sgd = new Sgd([w], 0.1, 0.9, 0);
        Step(w, x, sgd); // no session: must not throw or leak into the next session
        using var session = OpProfiler.Session();
        Step(w, x, sgd);
        session.Reset();
        Step(w, x, sgd);
        Assert.Equal(1, session.Rows().Single(r => r.Name == "relu").Calls);
    }

    [Fact]
    public void OnlyOneSessionAtATime()
    {
        using var first = OpProfiler.Session();
        Assert.Throws<InvalidOperationException>(() => OpProfiler.Session());
        first.Dispose();
        using var second = OpProfiler.Session(); // closing the first frees the slot
    }
}
