using System.Diagnostics;

namespace Circumvent.Tests.Support;

/// <summary>
/// The one place tests write files: a folder per test process, TEMP/circumvent-tests/PID-GUID, removed when the process
/// exits. Before it existed every CLI test left its models behind (4.5 GB in /tmp after a day of runs). A process that
/// is killed cannot clean up, and the test host may end before its exit handler finishes, so each new process first
/// removes the folders of processes that no longer run; folders of test runs still going (another worktree's, a parallel
/// pass) are left alone. At most the last run's files outlive it.
/// </summary>
public static class Scratch
{
    private const string ParentName = "circumvent-tests";
    private static int _made;

    /// <summary>This process's folder.</summary>
    public static string Root { get; } = CreateRoot();

    /// <summary>
    /// A new, empty folder under <see cref="Root"/>, named PREFIX + a number counted per process. Names stay short on
    /// purpose: slurmd puts Unix sockets (at most 107 bytes of path) in a spool folder inside a test's folder.
    /// </summary>
    public static string NewFolder(string prefix)
    {
        string path = NewFilePath(prefix, "");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A path under <see cref="Root"/> no file has yet: PREFIX + a per-process number + EXTENSION (e.g. ".safetensors").</summary>
    public static string NewFilePath(string prefix, string extension) =>
        Path.Combine(Root, prefix + Interlocked.Increment(ref _made) + extension);

    private static string CreateRoot()
    {
        string parent = Path.Combine(Path.GetTempPath(), ParentName);
        Directory.CreateDirectory(parent);
        RemoveFoldersOfEndedProcesses(parent);
        string root = Path.Combine(parent, $"{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        return root;
    }

    internal static void RemoveFoldersOfEndedProcesses(string parent)
    {
        foreach (string folder in Directory.EnumerateDirectories(parent))
        {
            string name = Path.GetFileName(folder);
            int dash = name.IndexOf('-');
            if (dash <= 0 || !int.TryParse(name.AsSpan(0, dash), out int pid)) continue;
            if (!IsRunning(pid)) TryDelete(folder);
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; } // no such process
        catch (InvalidOperationException) { return false; }
    }

    private static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
