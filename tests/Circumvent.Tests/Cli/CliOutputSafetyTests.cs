using System.Runtime.InteropServices;

namespace Circumvent.Tests.Cli;

/// <summary>
/// Outputs are checked before any work (issue #20): an output that is an input or another output, an
/// extension the file is not written in, or a folder that cannot be written is one line, exit 2, and
/// every file is left as it was.
/// </summary>
public class CliOutputSafetyTests
{
    private static readonly Lazy<(string Dir, string Data, string Model)> Fixture = new(() =>
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 100, testCount: 30);
        var model = Path.Combine(dir, "model.safetensors");
        var run = CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", data, "--epochs", "1", "--out", model);
        if (run.ExitCode != 0) throw new InvalidOperationException("fixture training failed: " + run.Stderr);
        return (dir, data, model);
    });

    /// <summary>A copy of the fixture model in a fresh folder, so a test that overwrote it cannot spoil another.</summary>
    private static (string Dir, string Model, byte[] Bytes) FreshModel()
    {
        var dir = CliHarness.TempFolder();
        var model = Path.Combine(dir, "model.safetensors");
        File.Copy(Fixture.Value.Model, model);
        return (dir, model, File.ReadAllBytes(model));
    }

    private static string Refused(CliHarness.Result run, params string[] words)
    {
        Assert.True(run.ExitCode == 2, $"exit code {run.ExitCode}, stderr: {run.Stderr}");
        string line = Assert.Single(run.StderrLines);
        foreach (var word in words) Assert.Contains(word, line);
        return line;
    }

    private static string[] Purify(string model, string output, params string[] extra) =>
        ["purify", "--model", model, "--data", Fixture.Value.Data, "--defense", "none", "--out", output, .. extra];

    [Fact]
    public void ReportEqualToOutIsRefused()
    {
        var (dir, model, _) = FreshModel();
        var output = Path.Combine(dir, "p.safetensors");
        Refused(CliHarness.Run(Purify(model, output, "--report", output)), "--report and --out name the same path", output);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void OutEqualToTheModelIsRefusedAndTheModelKept()
    {
        var (_, model, bytes) = FreshModel();
        Refused(CliHarness.Run(Purify(model, model)), "--out", "--model", "same path", model);
        Assert.Equal(bytes, File.ReadAllBytes(model));
    }

    [Fact]
    public void ReportEqualToTheModelIsRefusedAndTheModelKept()
    {
        // A safetensors file named .json, so the report's extension rule lets the path through to the collision check.
        var (dir, model, bytes) = FreshModel();
        var jsonModel = Path.ChangeExtension(model, ".json");
        File.Move(model, jsonModel);
        Refused(CliHarness.Run(Purify(jsonModel, Path.Combine(dir, "p.safetensors"), "--report", jsonModel)), "--report", "--model", jsonModel);
        Assert.Equal(bytes, File.ReadAllBytes(jsonModel));
    }

    [Fact]
    public void AnOutputReachingTheModelThroughASymlinkIsRefused()
    {
        var (dir, model, bytes) = FreshModel();
        var link = Path.Combine(dir, "link");
        Directory.CreateSymbolicLink(link, dir);
        var output = Path.Combine(link, "model.safetensors");
        Refused(CliHarness.Run(Purify(model, output)), "--out", "--model", model);
        Assert.Equal(bytes, File.ReadAllBytes(model));
    }

    [Fact]
    public void AnOutputThatIsASymlinkToTheModelIsRefusedAndBothAreKept()
    {
        var (dir, model, bytes) = FreshModel();
        var output = Path.Combine(dir, "p.safetensors");
        File.CreateSymbolicLink(output, model);
        Refused(CliHarness.Run(Purify(model, output)), "--out", "--model", "same path", model);
        Assert.Equal(bytes, File.ReadAllBytes(model));
        Assert.Equal(model, new FileInfo(output).LinkTarget);
    }

    /// <summary>
    /// A hard link is not detected (README, "Bad input"), and need not be: every output is written to a temporary file
    /// that is then renamed over OUT, which replaces OUT's directory entry and never writes into the file the model's
    /// name still points to. So the run goes ahead, OUT gets the purified model and the model keeps its bytes.
    /// </summary>
    [SkippableFact]
    public void AnOutputThatIsAHardLinkToTheModelGetsANewFileAndTheModelIsKept()
    {
        Skip.If(OperatingSystem.IsWindows(), "hard links are made here with POSIX link(2)");
        var (dir, model, bytes) = FreshModel();
        var output = Path.Combine(dir, "p.safetensors");
        Assert.True(link(model, output) == 0, $"link(2) failed: errno {Marshal.GetLastPInvokeError()}");
        var run = CliHarness.Run(Purify(model, output));
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(bytes, File.ReadAllBytes(model));
        // The output differs from the model (it records the purification), so had it been written through the link
        // the model's bytes would have changed above.
        Assert.NotEqual(bytes, File.ReadAllBytes(output));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string existing, string newPath);

    [Fact]
    public void TrainRefusesToOverwriteTheCleanModelItReads()
    {
        var (_, model, bytes) = FreshModel();
        Refused(CliHarness.Run("train", "--arch", "mlp", "--width", "0.125", "--data", Fixture.Value.Data, "--epochs", "1",
            "--attack", "lc", "--clean-model", model, "--out", model), "--out", "--clean-model");
        Assert.Equal(bytes, File.ReadAllBytes(model));
    }

    public static TheoryData<string, string, string> WrongExtensions => new()
    {
        { "--out", "p.txt", ".safetensors, .pth, .pt" },
        { "--out", "purified", ".safetensors, .pth, .pt" },
        { "--report", "r.txt", ".json" },
    };

    [Theory]
    [MemberData(nameof(WrongExtensions))]
    public void PurifyRefusesAnExtensionItDoesNotWrite(string option, string name, string accepted)
    {
        var (dir, model, _) = FreshModel();
        var path = Path.Combine(dir, name);
        var args = option == "--out" ? Purify(model, path) : Purify(model, Path.Combine(dir, "p.safetensors"), "--report", path);
        Refused(CliHarness.Run(args), option, name, accepted);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void TrainRefusesAnExtensionItDoesNotWrite()
    {
        var dir = CliHarness.TempFolder();
        var path = Path.Combine(dir, "model.txt");
        Refused(CliHarness.Run("train", "--arch", "mlp", "--data", Fixture.Value.Data, "--out", path), "--out", "model.txt", ".safetensors");
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void CurveRefusesWrongExtensions()
    {
        var dir = CliHarness.TempFolder();
        Refused(CliHarness.Run("curve", "--run", dir, "--csv", Path.Combine(dir, "c.svg")), "--csv", ".csv");
    }

    [Fact]
    public void AMissingFolderForAnOutputFileIsRefusedNotCreated()
    {
        var (dir, model, _) = FreshModel();
        var missing = Path.Combine(dir, "missing");
        Refused(CliHarness.Run(Purify(model, Path.Combine(dir, "p.safetensors"), "--report", Path.Combine(missing, "r.json"))),
            "--report", "does not exist");
        Assert.False(Directory.Exists(missing));
    }

    [SkippableFact]
    public void AReadOnlyOutputFolderIsFoundBeforeAnyWork()
    {
        var (_, model, _) = FreshModel();
        var folder = ReadOnlyFolder();
        var output = Path.Combine(folder, "p.safetensors");
        var run = CliHarness.Run(Purify(model, output, "--run-folder", Path.Combine(CliHarness.TempFolder(), "run")));
        Refused(run, "--out", "cannot write in folder", folder);
        Assert.DoesNotContain("purifying", run.Stdout); // refused before the model was even loaded
    }

    [SkippableFact]
    public void AReadOnlyFolderForAnOutputFolderIsFoundBeforeAnyWork()
    {
        var folder = ReadOnlyFolder();
        var results = Path.Combine(CliHarness.TempFolder(), "results.jsonl");
        File.WriteAllText(results, "");
        Refused(CliHarness.Run("experiment", "report", results, "--out", Path.Combine(folder, "report", "deeper")), "--out", "cannot write in folder");
    }

    [Fact]
    public void AMissingOutputFolderIsCreatedWithItsParents()
    {
        var (dir, model, _) = FreshModel();
        var runFolder = Path.Combine(dir, "runs", "a", "b");
        var output = Path.Combine(dir, "p.safetensors");
        var run = CliHarness.Run(Purify(model, output, "--run-folder", runFolder));
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.True(Directory.Exists(runFolder));
        Assert.True(File.Exists(output));
        Assert.Empty(Directory.GetFiles(dir, ".circumvent-write-probe-*"));
    }

    /// <summary>
    /// A folder this process cannot create files in: a mode-555 folder, or (as root, which ignores the
    /// mode) /sys, which refuses new files even to root.
    /// </summary>
    private static string ReadOnlyFolder()
    {
        if (OperatingSystem.IsWindows()) throw new SkipException("needs POSIX file modes");
        var folder = CliHarness.TempFolder();
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        if (!CanCreateFileIn(folder)) return folder;
        Skip.If(CanCreateFileIn("/sys"), "no read-only folder available (running as root, and /sys accepts new files)");
        return "/sys";
    }

    private static bool CanCreateFileIn(string folder)
    {
        try
        {
            using var probe = new FileStream(Path.Combine(folder, $"probe-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
