using Circumvent.Tests.Cli;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Scripts;

/// <summary>
/// scripts/test-summary on TRX files shaped like those `dotnet test --logger trx` writes: counts per run,
/// skip reasons grouped with their counts (entities decoded), and the plain last line over all runs.
/// </summary>
public class TestSummaryTests
{
    private static string Result(string name, string outcome, string? reason = null) => reason is null
        ? $"""    <UnitTestResult executionId="1" testName="{name}" outcome="{outcome}" testListId="2" />"""
        : $"""
              <UnitTestResult executionId="1" testName="{name}" outcome="{outcome}" testListId="2">
                <Output>
                  <ErrorInfo>
                    <Message>{reason}</Message>
                  </ErrorInfo>
                </Output>
              </UnitTestResult>
          """;

    private static string Trx(string dir, string name, params string[] results)
    {
        var path = Path.Combine(dir, name + ".trx");
        // Counters as VSTest writes them for skipped xunit tests: notExecuted stays 0.
        File.WriteAllText(path, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <TestRun id="0" name="run" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
              <Results>
            {string.Join("\n", results)}
              </Results>
              <ResultSummary outcome="Completed">
                <Counters total="{results.Length}" executed="0" passed="0" failed="0" error="0" timeout="0" aborted="0" inconclusive="0" passedButRunAborted="0" notRunnable="0" notExecuted="0" />
              </ResultSummary>
            </TestRun>
            """);
        return path;
    }

    [SkippableFact]
    public void GroupsSkipReasonsCountsEachRunAndEndsWithTheLineCiReads()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "scripts/test-summary is a bash script");
        var dir = CliHarness.TempFolder();
        const string cifar = "CIFAR-10 binary batches not found under shared/data/cifar10.";
        var main = Trx(dir, "main",
            Result("A.One", "Passed"), Result("A.Two", "Passed"), Result("A.Three", "Failed", "boom"),
            Result("B.Cifar1", "NotExecuted", cifar), Result("B.Cifar2", "NotExecuted", cifar),
            Result("B.Chromium", "NotExecuted", "chromium &apos;headless&apos; is not installed &amp; cannot render"));
        var extra = Trx(dir, "extra", Result("A.One", "Passed"), Result("B.Cifar1", "NotExecuted", cifar));
        var script = Path.Combine(RepositoryRoot.Path, "scripts", "test-summary");

        var run = ExternalProcess.Run("bash", [script, "main=" + main, "managed GEMM (Engine)=" + extra, "no oneDNN=" + Path.Combine(dir, "absent.trx")]);

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("tests: 3 passed, 2 failed, 4 skipped", lines[^1]);
        Assert.Contains("all 3 runs", lines[^2]);
        // Reasons by count, most frequent first; each once.
        int heading = Array.IndexOf(lines, "skipped, by reason (all runs):");
        Assert.Equal($"      3  {cifar}", lines[heading + 1]);
        Assert.Equal("      1  chromium 'headless' is not installed & cannot render", lines[heading + 2]);
        Assert.Single(lines, l => l.Contains(cifar));
        Assert.Single(lines, l => l.StartsWith("  main:") && l.EndsWith("2 passed, 1 failed, 3 skipped"));
        Assert.Single(lines, l => l.StartsWith("  managed GEMM (Engine):") && l.EndsWith("1 passed, 0 failed, 1 skipped"));
        Assert.Single(lines, l => l.StartsWith("  no oneDNN:") && l.Contains("0 passed, 1 failed, 0 skipped (no ") && l.Contains("absent.trx"));
    }
}
