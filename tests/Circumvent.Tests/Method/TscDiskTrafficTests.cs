using Circumvent.Method.Defenses;
using Circumvent.Method.Runs;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

/// <summary>A TSC run writes each unit's progress once when its epochs fit in the save interval, and counts what it wrote.</summary>
public class TscDiskTrafficTests
{
    // TscTests' 2 rounds with longer units: 4 curves of 3 epochs, 4 curve points and 1 fine-tuning of 2 epochs (9 results).
    private static readonly TscOptions Quick = TscTests.Quick with
    {
        Curve = TscTests.Quick.Curve with { Epochs = 3 },
        FineTune = TscTests.Quick.FineTune with { Epochs = 2 },
    };

    [Theory]
    [InlineData(60, 9 + 5)] // every result, and one state per unit with epochs (at its end)
    // Interval 0: every result, a state per curve epoch (a curve draws t per step, so it resumes at an epoch's start) and
    // per fine-tuning step (3 an epoch; fine-tuning resumes at the step it stopped at).
    [InlineData(0, 9 + 4 * 3 + 2 * 3)]
    public void EachUnitWritesItsStateOncePerIntervalAndTheBytesAreCounted(int intervalSeconds, int expectedWrites)
    {
        var problem = TinyDefenseProblem.Create();
        using var folder = new Circumvent.Tests.Data.TempFolder();
        string run = Path.Combine(folder.Path, "run");
        var saving = new ProgressSaving(TimeSpan.FromSeconds(intervalSeconds), new FakeClock());

        new Tsc(Quick).Run(problem.Input() with { RunFolder = run, Saving = saving });

        Assert.Equal(expectedWrites, saving.FilesWritten);
        Assert.Empty(Directory.GetFiles(run, "*.state"));
        // The results stay; the states (removed once their unit's result is saved) account for the rest.
        long results = Directory.GetFiles(run, "*.safetensors").Sum(f => new FileInfo(f).Length);
        Assert.Equal(9, Directory.GetFiles(run, "*.safetensors").Length);
        Assert.True(saving.BytesWritten > results, $"{saving.BytesWritten} bytes counted, {results} in results alone");
    }
}
