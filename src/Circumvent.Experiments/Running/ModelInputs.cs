using Circumvent.Data;
using Circumvent.Method.Runs;
using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Method.Defenses;

namespace Circumvent.Experiments.Running;

/// <summary>
/// The files a cached model was made from, by content. A model's cache key names its attack's files
/// by path (a trigger image, LC's clean model, a given SSBA encoder), so a file changed in place would otherwise be served
/// the model made from its old content. Each cache entry keeps <c>inputs.json</c> (path → SHA-256; the path as cell keys write
/// it, relative to the plan's folder, so a moved plan's entries still match);
/// a run checks it before any work. The dataset is named by its folder and not hashed: 180 MB per
/// run for a file set nobody edits in place is not worth it.
/// </summary>
internal static class ModelInputs
{
    public const string FileName = "inputs.json";

    /// <summary>path → SHA-256 (hex) of every file the cell's model is made from (its attack's files; an encoder's clean file and references); <paramref name="hash"/> may remember files seen.</summary>
    private static JsonObject Fingerprint(Cell cell, Func<string, string> hash)
    {
        var fingerprint = new JsonObject();
        foreach (var path in cell.InputFiles())
            if (File.Exists(path)) fingerprint[cell.PortablePath(path)] = hash(path);
        return fingerprint;
    }

    /// <summary>Records what the model in <paramref name="cacheEntry"/> is being made from.</summary>
    public static void Record(string cacheEntry, Cell cell) =>
        AtomicText.Write(Path.Combine(cacheEntry, FileName), Fingerprint(cell, Sha256Hex.OfFile).ToJsonString());

    /// <summary>
    /// For every cached model the cells use: its inputs must be what it was made from. An entry made
    /// before this record existed gets one now, from the files as they are.
    /// </summary>
    /// <exception cref="ArgumentException">An input file's content changed since its model was made.</exception>
    public static void CheckUnchanged(string cacheFolder, IEnumerable<Cell> cells)
    {
        // Several models share a trigger image or clean model: each file is read once.
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        string HashOnce(string path) => hashes.TryGetValue(path, out var h) ? h : hashes[path] = Sha256Hex.OfFile(path);
        foreach (var cell in cells.DistinctBy(c => c.ModelKey))
        {
            string model = CellRunner.ModelPath(cacheFolder, cell.ModelKey);
            if (!File.Exists(model)) continue;
            string entry = Path.GetDirectoryName(model)!;
            string recordPath = Path.Combine(entry, FileName);
            var now = Fingerprint(cell, HashOnce);
            if (!File.Exists(recordPath))
            {
                AtomicText.Write(recordPath, now.ToJsonString());
                continue;
            }
            JsonObject then;
            try { then = JsonNode.Parse(File.ReadAllText(recordPath)) as JsonObject ?? throw new System.Text.Json.JsonException("not an object"); }
            catch (System.Text.Json.JsonException e)
            {
                throw new ArgumentException($"'{recordPath}' is unreadable ({e.Message}); delete it to record the files as they are now.");
            }
            foreach (var (path, hash) in then)
            {
                string? current = now[path]?.GetValue<string>();
                if (current != hash?.GetValue<string>())
                    throw new ArgumentException(
                        $"cached model '{entry}' was made from '{Shown(path, cell)}' with SHA-256 {Short(hash)}, but that file is now {(current is null ? "missing" : Short(current))}; " +
                        "restore the file, or delete that folder to make the model again.");
            }
        }
    }

    /// <summary>A recorded path as the user finds it: relative ones resolved against the plan's folder.</summary>
    private static string Shown(string path, Cell cell) =>
        Path.IsPathRooted(path) || cell.PlanFolder.Length == 0 ? path : Path.GetFullPath(path, cell.PlanFolder);

    private static string Short(JsonNode? hash) => hash?.GetValue<string>() is { } h ? h[..12] + "…" : "unknown";
}
