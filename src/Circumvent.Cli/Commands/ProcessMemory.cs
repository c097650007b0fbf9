namespace Circumvent.Cli.Commands;

/// <summary>
/// Resident-set figures of this process from /proc (Linux). The peak (VmHWM) can be reset, so a
/// benchmark measures the high-water mark of one phase, the way the PyTorch script measures a
/// fresh process: peak during training minus the resident size once the model exists.
/// </summary>
internal static class ProcessMemory
{
    public static double? ResidentMegabytes() => ReadStatus("VmRSS:");
    public static double? PeakMegabytes() => ReadStatus("VmHWM:");

    /// <summary>Resets VmHWM to the current RSS (writing 5 to clear_refs; Linux ≥ 4.0). False where unsupported.</summary>
    public static bool ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private static double? ReadStatus(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0]) / 1024.0; // kB -> MB
        }
        catch (IOException) { }
        return null;
    }
}
