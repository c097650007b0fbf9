using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Circumvent.Tests.Cli;

/// <summary>
/// The real executable under SIGTERM (what `kill`, a scheduler's time limit or a container stop send):
/// it stops after the current batch like Ctrl+C, keeps its finished epochs and writes no model.
/// </summary>
public class CliSignalTests
{
    private const int Sigterm = 15;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [SkippableFact]
    public void SigtermStopsTrainingKeepsItsStateAndWritesNoModel()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "SIGTERM is sent with libc's kill, tested on Linux");
        var exe = Path.Combine(AppContext.BaseDirectory, "circumvent");
        Skip.IfNot(File.Exists(exe), $"the circumvent executable is not beside the tests ({exe})");
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 200, testCount: 50, size: 16);
        var model = Path.Combine(dir, "model.safetensors");
        var state = model + ".train-state";

        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        // Every epoch is written, so the state file tells that training is under way (CliSignalSavingTests: the default interval).
        info.Environment[Circumvent.Training.ProgressSaving.IntervalVariable] = "0";
        // Far more epochs than it can run before the signal: it must be stopped, not finish.
        foreach (var arg in new[] { "train", "--arch", "mlp", "--width", "0.5", "--data", data, "--epochs", "100000",
                     "--batch-size", "50", "--no-augment", "--seed", "1", "--out", model })
            info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(state) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(20);
            if (process.HasExited) Assert.Fail($"train exited ({process.ExitCode}) before the signal: {stderr.Result}");
            Assert.True(File.Exists(state), "no training state was saved within 2 minutes");

            Assert.Equal(0, kill(process.Id, Sigterm));
            Assert.True(process.WaitForExit(60_000), "still running a minute after SIGTERM");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        Assert.Equal(143, process.ExitCode);
        var lines = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("cancelled", Assert.Single(lines));
        // The finished epochs and the seconds spent are kept for a rerun; no model file, whole or partial,
        // and no temporary left.
        Assert.Equal([model + ".train-seconds", state], Directory.GetFiles(dir).Order());
    }
}
