using Circumvent.Experiments.Running;

namespace Circumvent.Tests.Experiments;

/// <summary>How many epoch lines a defence unit leaves in a plan's log (the end-to-end lines: RunnerTests).</summary>
public class RunnerLogTests
{
    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(5, new[] { 1, 2, 3, 4, 5 })]
    [InlineData(40, new[] { 1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40 })]
    [InlineData(45, new[] { 1, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45 })]
    public void AUnitLogsItsFirstAndLastEpochAndAboutTwentyInBetween(int epochs, int[] expected)
    {
        var logged = Enumerable.Range(1, epochs).Where(e => CellRunner.UnitLog.IsLoggedEpoch(e, epochs));
        Assert.Equal(expected, logged);
    }

    [Fact]
    public void ATwoHundredEpochCurveLeavesTwentyOneLines() =>
        Assert.Equal(21, Enumerable.Range(1, 200).Count(e => CellRunner.UnitLog.IsLoggedEpoch(e, 200)));
}
