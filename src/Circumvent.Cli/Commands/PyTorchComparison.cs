using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Circumvent.Cli.Commands;

/// <summary>
/// Runs bench/pytorch_bench.py (PyTorch on CPU, same shapes and thread count) right after our own
/// measurement, so every figure in BENCHMARKS.md has its PyTorch counterpart from the same run.
/// </summary>
internal static class PyTorchComparison
{
    public const string ScriptRelativePath = "bench/pytorch_bench.py";

    /// <summary>The --pytorch-script option every benchmark with --compare-pytorch takes.</summary>
    public static System.CommandLine.Option<string?> ScriptOption() =>
        new("--pytorch-script") { Description = "Path of pytorch_bench.py (default: found above the current folder)." };

    /// <summary>Runs the script with <paramref name="arguments"/> plus --json and returns its JSON object.</summary>
    public static JsonElement Run(string? scriptPath, IEnumerable<string> arguments, CancellationToken cancellation)
    {
        var script = scriptPath ?? FindScript()
            ?? throw new UsageException($"--compare-pytorch: cannot find {ScriptRelativePath} above the current folder; pass --pytorch-script PATH.");
        if (!File.Exists(script)) throw new UsageException($"--pytorch-script: file '{script}' does not exist.");

        var start = new ProcessStartInfo(PythonExecutable()) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--json");
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new UsageException($"--compare-pytorch needs python3 with torch (Debian python3-torch): {e.Message}.");
        }
        using (process)
        using (cancellation.Register(() => { try { process.Kill(true); } catch (InvalidOperationException) { } }))
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellation);
            var stderr = process.StandardError.ReadToEndAsync(cancellation);
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                var last = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "no output";
                throw new UsageException($"--compare-pytorch: {script} failed (exit {process.ExitCode}): {last.Trim()}");
            }
            return JsonDocument.Parse(stdout.Result).RootElement.Clone();
        }
    }

    /// <summary>Ratio ours/theirs for "higher is better" figures, theirs/ours for "lower is better".</summary>
    public static string Ratio(double ours, double theirs, bool higherIsBetter = true)
    {
        if (ours <= 0 || theirs <= 0) return "n/a";
        double r = higherIsBetter ? ours / theirs : theirs / ours;
        return r.ToString("F2", CultureInfo.InvariantCulture) + "x";
    }

    /// <summary>
    /// CIRCUMVENT_PYTHON if set; else Debian's /usr/bin/python3 (where python3-torch installs), since a
    /// python3 earlier on PATH (pyenv, venv) usually lacks torch; else python3 from PATH.
    /// </summary>
    private static string PythonExecutable() =>
        Environment.GetEnvironmentVariable("CIRCUMVENT_PYTHON") is { Length: > 0 } configured ? configured
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3"
        : "python3";

    private static string? FindScript()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, ScriptRelativePath);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
