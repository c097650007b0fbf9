using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Engine.Kernels;
using Circumvent.Engine.Memory;
using Circumvent.Models;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

/// <summary>
/// A steady-state training step reuses its buffers instead of allocating them: airnet at batch 1024 needs 2.4 GB pooled,
/// more than the pool's former fixed 1 GiB idle cap, so every step dropped 1.6 GB and allocated it again, and the
/// garbage piled up to 10–15 GB of resident memory. Here the pool's floor is set to zero, so these tiny networks stand
/// for a working set above any fixed cap. The collection runs alone: the pool's limits, its counters and the thread
/// budget are process-wide, and the allocation count is this thread's (one engine thread, no prefetch).
/// </summary>
[Collection(EngineThreadBudgetCollection.Name)]
public sealed class StepAllocationTests
{
    [Theory]
    [InlineData("airnet", 0.25)]
    [InlineData("cnn-small", 0.5)]
    public void SteadyStateTrainingStepsAllocateAlmostNothing(string architecture, double width)
    {
        const int batch = 64, steps = 8;
        var perStep = WithoutIdleFloor(() => AllocatedBytesPerStep(architecture, width, batch, steps));
        // Step 1 allocates the working set (MBs); from step 3 on only small objects (graph nodes, shapes, labels) remain.
        long first = perStep[0], steady = perStep.Skip(2).Max();
        Assert.True(first > 5_000_000, $"{architecture}: the first step allocated only {first} bytes; the test needs a working set of MBs.");
        Assert.True(steady < first / 50,
            $"{architecture}: a steady-state step allocated {steady} bytes, {100.0 * steady / first:F1}% of the first step's {first} (per step: {string.Join(", ", perStep)}).");
    }

    [Fact]
    public void AReturnBeyondTheLimitEvictsTheLeastRecentlyRentedSizeFirst()
    {
        WithoutIdleFloor(() =>
        {
            // One buffer of 4096 at a time: the limit is twice that, so two sizes fit idle, not three.
            var a = BufferPool.Rent(4096);
            BufferPool.Return(a);
            var b = BufferPool.Rent(4097);
            BufferPool.Return(b);
            Assert.Equal(2 * 4097, BufferPool.IdleLimitFloats);
            var c = BufferPool.Rent(4098);
            BufferPool.Return(c); // evicts a, rented longest ago
            Assert.Equal(4097 + 4098, BufferPool.IdleFloats);
            Assert.Same(b, BufferPool.Rent(4097));
            Assert.Same(c, BufferPool.Rent(4098));
            Assert.NotSame(a, BufferPool.Rent(4096));
            return 0;
        });
    }

    [Fact]
    public void TheFloorHoldsUntilTwiceTheWorkingSetExceedsIt()
    {
        long floor = BufferPool.MinIdleLimitFloats;
        BufferPool.Trim();
        Assert.Equal(floor, BufferPool.IdleLimitFloats);
        WithoutIdleFloor(() =>
        {
            var a = BufferPool.Rent(2048);
            var b = BufferPool.Rent(3000);
            BufferPool.Return(a);
            BufferPool.Return(b);
            Assert.Equal(5048, BufferPool.PeakRentedFloats);
            Assert.Equal(2 * 5048, BufferPool.IdleLimitFloats);
            Assert.Equal(5048, BufferPool.IdleFloats);
            BufferPool.Return(new float[12000]); // larger than the whole limit: dropped, and nothing evicted for it
            Assert.Equal(5048, BufferPool.IdleFloats);
            return 0;
        });
    }

    [Fact]
    public void TtaLevelTwoHoldsOneForwardsActivationsAtATime()
    {
        var net = Architectures.Create(new ArchitectureConfig("airnet", 3, 32, 32, 10, 0.25));
        var parameters = net.Initialize(new Random(0));
        var x = Tensor.Randn(new Random(1), 16, 3, 32, 32);
        long PeakRented(int level) => WithoutIdleFloor(() =>
        {
            using var noGrad = GradMode.Disable();
            using (TensorScope.Open()) TestTimeAugmentation.Logits(net, parameters, x, ForwardContext.Eval(), level);
            return BufferPool.PeakRentedFloats;
        });
        long one = PeakRented(0), six = PeakRented(2);
        // Six forwards, each freed before the next, and the five shifted copies of x (a fraction of one forward).
        Assert.True(six < 1.5 * one, $"TTA level 2 rented {six} floats at once, level 0 {one}: more than one forward's activations were alive.");
    }

    // Runs `body` on an empty pool whose idle limit is twice the working set alone, then restores the floor.
    private static T WithoutIdleFloor<T>(Func<T> body)
    {
        long floor = BufferPool.MinIdleLimitFloats;
        BufferPool.Trim();
        BufferPool.MinIdleLimitFloats = 0;
        try { return body(); }
        finally
        {
            BufferPool.MinIdleLimitFloats = floor;
            BufferPool.Trim();
        }
    }

    // Bytes this thread allocated in each of `steps` training steps on random 32×32 images (airnet with airbench's recipe).
    private static long[] AllocatedBytesPerStep(string architecture, double width, int batch, int steps)
    {
        int count = batch * steps;
        var pixels = new byte[count * 3 * 32 * 32];
        new Random(1).NextBytes(pixels);
        var data = new ImageDataset(pixels, [.. Enumerable.Range(0, count).Select(i => i % 10)], 3, 32, 32, [.. Enumerable.Range(0, 10).Select(i => $"c{i}")]);
        var plain = new TrainingConfig { Architecture = architecture, WidthMultiplier = width, Seed = 4, BatchSize = batch, Epochs = 1 };
        var config = architecture == "airnet" ? TrainingRecipes.Apply(TrainingRecipes.Airbench, plain, batchSize: batch) with { Epochs = 1 } : plain;
        var net = Architectures.Create(new ArchitectureConfig(architecture, 3, 32, 32, 10, width));
        var parameters = net.Initialize(new Random(0));
        var augmentation = Factories.CreateAugmentation(config, new Augmentation(CropPadding: 4, HorizontalFlip: true));
        var options = BatchLoaderOptions.Training(batch, 5, augmentation) with { Prefetch = false };
        var trainer = new Trainer(net, parameters, config, Factories.CreateRunningStats(config, parameters));
        var perStep = new List<long>();
        int threads = Parallelism.Threads;
        Parallelism.Threads = 1;
        try
        {
            long last = GC.GetAllocatedBytesForCurrentThread();
            trainer.Progress += _ =>
            {
                long now = GC.GetAllocatedBytesForCurrentThread();
                perStep.Add(now - last);
                last = now;
            };
            trainer.Train(new BatchLoaderSource(new BatchLoader(data, Normalization.Identity(3), options)));
        }
        finally { Parallelism.Threads = threads; }
        Assert.Equal(steps, perStep.Count);
        return [.. perStep];
    }
}
