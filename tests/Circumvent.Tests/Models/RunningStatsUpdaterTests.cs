using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

public class RunningStatsUpdaterTests
{
    [Fact]
    public void AppliesPyTorchMomentumUpdate()
    {
        var set = new ParameterSet();
        set.Add("bn.running_mean", Tensor.FromArray([1f, -2f], 2), TensorRole.Buffer);
        set.Add("bn.running_var", Tensor.FromArray([4f, 0.5f], 2), TensorRole.Buffer);
        var updater = new RunningStatsUpdater(set);

        updater.Observe("bn", new BatchStatistics([3f, 8f], [2f, 10.5f], 16));

        // 0.9·old + 0.1·batch
        Assert.Equal(0.9f * 1f + 0.1f * 3f, set["bn.running_mean"].ToArray()[0], 6);
        Assert.Equal(0.9f * -2f + 0.1f * 8f, set["bn.running_mean"].ToArray()[1], 6);
        Assert.Equal(0.9f * 4f + 0.1f * 2f, set["bn.running_var"].ToArray()[0], 6);
        Assert.Equal(0.9f * 0.5f + 0.1f * 10.5f, set["bn.running_var"].ToArray()[1], 6);
        Assert.Equal(1, updater.BatchesTracked["bn"]);

        updater.Observe("bn", new BatchStatistics([3f, 8f], [2f, 10.5f], 16));
        Assert.Equal(0.9f * (0.9f + 0.3f) + 0.3f, set["bn.running_mean"].ToArray()[0], 5);
        Assert.Equal(2, updater.BatchesTracked["bn"]);
    }

    [Fact]
    public void MatchesTorchOnAnObservedBatch()
    {
        // A whole batch of one channel; torch.nn.BatchNorm1d(1, momentum=0.5) in train mode on
        // [1, 2, 3, 6] gives running_mean 0.5·0 + 0.5·3 = 1.5 and running_var 0.5·1 + 0.5·(14/3).
        var set = new ParameterSet();
        set.Add("b.running_mean", Tensor.FromArray([0f], 1), TensorRole.Buffer);
        set.Add("b.running_var", Tensor.FromArray([1f], 1), TensorRole.Buffer);
        float[] xs = [1f, 2f, 3f, 6f];
        float mean = xs.Average();
        float unbiased = xs.Sum(v => (v - mean) * (v - mean)) / (xs.Length - 1);
        new RunningStatsUpdater(set, momentum: 0.5f).Observe("b", new BatchStatistics([mean], [unbiased], xs.Length));
        Assert.Equal(1.5f, set["b.running_mean"].Item(), 6);
        Assert.Equal(0.5f + 0.5f * 14f / 3f, set["b.running_var"].Item(), 5);
    }

    [Fact]
    public void ChannelMismatchIsReported()
    {
        var set = new ParameterSet();
        set.Add("bn.running_mean", Tensor.FromArray([0f, 0f], 2), TensorRole.Buffer);
        set.Add("bn.running_var", Tensor.FromArray([1f, 1f], 2), TensorRole.Buffer);
        var e = Assert.Throws<ArgumentException>(() => new RunningStatsUpdater(set).Observe("bn", new BatchStatistics([1f], [1f], 4)));
        Assert.Contains("bn.running_mean", e.Message);
    }
}
