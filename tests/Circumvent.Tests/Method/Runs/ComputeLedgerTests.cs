using Circumvent.Method.Defenses;
using Circumvent.Method.Runs;

namespace Circumvent.Tests.Method.Runs;

public class ComputeLedgerTests
{
    [Fact]
    public void AStoppedCallsSecondsCarryIntoTheNextAndTheFileGoesWithTheResult()
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        string path = Path.Combine(folder.Path, "unit.seconds");
        using (var first = new ComputeLedger(path))
        {
            Assert.Equal(0, first.EarlierSeconds);
            Thread.Sleep(30);
        } // disposed without finishing: an interruption
        var second = new ComputeLedger(path);
        Assert.InRange(second.EarlierSeconds, 0.025, 10);
        Thread.Sleep(30);
        double total = second.Stop();
        Assert.InRange(total, second.EarlierSeconds + 0.025, second.EarlierSeconds + 10);
        Assert.Equal(total, second.TotalSeconds); // stopped: no longer counting
        second.Delete();
        Assert.False(File.Exists(path));
    }

    [Theory]
    [InlineData("not a number")]
    [InlineData("-5")]
    [InlineData("NaN")]
    public void AnUnreadableCountStartsFromZero(string content)
    {
        using var folder = new Circumvent.Tests.Data.TempFolder();
        string path = Path.Combine(folder.Path, "unit.seconds");
        File.WriteAllText(path, content);
        using var ledger = new ComputeLedger(path);
        Assert.Equal(0, ledger.EarlierSeconds);
    }
}
