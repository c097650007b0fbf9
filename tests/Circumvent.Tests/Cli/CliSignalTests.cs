using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

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

    /// <summary>
    /// Starts `train` for far more epochs than it can run before the signal (it must be stopped, not finish)
    /// with <paramref name="saveInterval"/> as CIRCUMVENT_SAVE_INTERVAL (null: unset, the default).
    /// </summary>
    private static (Process Process, string Dir, string Model) StartLongTraining(string? saveInterval, DataReceivedEventHandler? stdoutLine = null)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "SIGTERM is sent with libc's kill, tested on Linux");
        var exe = Path.Combine(AppContext.BaseDirectory, "circumvent");
        Skip.IfNot(File.Exists(exe), $"the circumvent executable is not beside the tests ({exe})");
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 200, testCount: 50, size: 16);
        var model = Path.Combine(dir, "model.safetensors");

        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (saveInterval is null) info.Environment.Remove(ProgressSaving.IntervalVariable);
        else info.Environment[ProgressSaving.IntervalVariable] = saveInterval;
        foreach (var arg in new[] { "train", "--arch", "mlp", "--width", "0.5", "--data", data, "--epochs", "100000",
                     "--batch-size", "50", "--no-augment", "--seed", "1", "--out", model })
            info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        if (stdoutLine is not null) process.OutputDataReceived += stdoutLine;
        process.Start();
        if (stdoutLine is not null) process.BeginOutputReadLine();
        return (process, dir, model);
    }

    /// <summary>Sends SIGTERM once <paramref name="ready"/> holds (within 2 minutes), then waits for the exit; returns stderr.</summary>
    private static string Terminate(Process process, Func<bool> ready, string notReady)
    {
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            while (!ready() && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(20);
            if (process.HasExited) Assert.Fail($"train exited ({process.ExitCode}) before the signal: {stderr.Result}");
            Assert.True(ready(), notReady);

            Assert.Equal(0, kill(process.Id, Sigterm));
            Assert.True(process.WaitForExit(60_000), "still running a minute after SIGTERM");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        Assert.Equal(143, process.ExitCode);
        return stderr.Result;
    }

    [SkippableFact]
    public void SigtermStopsTrainingKeepsItsStateAndWritesNoModel()
    {
        // Every epoch is written, so the state file tells that training is under way.
        var (process, dir, model) = StartLongTraining(saveInterval: "0");
        using var _ = process;
        var state = model + ".train-state";
        var stderr = Terminate(process, () => File.Exists(state), "no training state was saved within 2 minutes");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("cancelled", Assert.Single(lines));
        // The finished epochs and the seconds spent are kept for a rerun; no model file, whole or partial,
        // and no temporary left.
        Assert.Equal([model + ".train-seconds", state], Directory.GetFiles(dir).Order());
    }

    [SkippableFact]
    public void SigtermWritesTheEpochsKeptInMemoryByTheSaveInterval()
    {
        // The plain progress view prints a line per finished epoch ("epoch 3/100000 batch 4/4 …"); 3 epochs take far less than the default 60 s.
        int thirdEpochDone = 0;
        var (process, _, model) = StartLongTraining(saveInterval: null, (_, e) =>
        {
            if (e.Data?.StartsWith("epoch 3/100000 batch 4/4", StringComparison.Ordinal) == true) Volatile.Write(ref thirdEpochDone, 1);
        });
        using var _ = process;
        var state = model + ".train-state";
        bool stateBeforeSignal = true;
        var stderr = Terminate(process, () =>
        {
            if (Volatile.Read(ref thirdEpochDone) == 0) return false;
            stateBeforeSignal = File.Exists(state);
            return true;
        }, "three epochs did not finish within 2 minutes");
        Assert.Contains("cancelled", stderr);
        Assert.False(stateBeforeSignal, "the state was written within the save interval");
        var meta = JsonNode.Parse(SafeTensorsReader.Read(state).Metadata["circumvent.training_state"])!;
        Assert.True(meta["epochs_done"]!.GetValue<int>() >= 3);
    }
}
