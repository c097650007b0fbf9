using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Tests.Cli;

/// <summary>
/// With the default save interval, epochs that end within it are not written while training runs, and
/// SIGTERM still writes the last finished one before the process exits.
/// </summary>
public class CliSignalSavingTests
{
    private const int Sigterm = 15;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [SkippableFact]
    public void SigtermWritesTheEpochsKeptInMemory()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "SIGTERM is sent with libc's kill, tested on Linux");
        var exe = Path.Combine(AppContext.BaseDirectory, "circumvent");
        Skip.IfNot(File.Exists(exe), $"the circumvent executable is not beside the tests ({exe})");
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 200, testCount: 50, size: 16);
        var model = Path.Combine(dir, "model.safetensors");
        var state = model + ".train-state";

        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment.Remove(ProgressSaving.IntervalVariable); // the default: 60 s, far longer than 3 epochs here
        foreach (var arg in new[] { "train", "--arch", "mlp", "--width", "0.5", "--data", data, "--epochs", "100000",
                     "--batch-size", "50", "--no-augment", "--seed", "1", "--out", model })
            info.ArgumentList.Add(arg);
        using var thirdEpochDone = new ManualResetEventSlim();
        using var process = new Process { StartInfo = info };
        // The plain progress view prints one line per finished epoch: "epoch 3/100000 batch 4/4 …".
        process.OutputDataReceived += (_, e) => { if (e.Data?.StartsWith("epoch 3/100000 batch 4/4", StringComparison.Ordinal) == true) thirdEpochDone.Set(); };
        process.Start();
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        bool stateBeforeSignal;
        try
        {
            Assert.True(thirdEpochDone.Wait(TimeSpan.FromMinutes(1)), "three epochs did not finish within a minute");
            stateBeforeSignal = File.Exists(state);
            Assert.Equal(0, kill(process.Id, Sigterm));
            Assert.True(process.WaitForExit(60_000), "still running a minute after SIGTERM");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
        Assert.Equal(143, process.ExitCode);
        Assert.Contains("cancelled", stderr.Result);
        Assert.False(stateBeforeSignal, "the state was written within the save interval");
        var meta = JsonNode.Parse(SafeTensorsReader.Read(state).Metadata["circumvent.training_state"])!;
        Assert.True(meta["epochs_done"]!.GetValue<int>() >= 3);
    }
}
