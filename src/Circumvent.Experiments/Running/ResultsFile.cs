using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Circumvent.Experiments.Running;

/// <summary>
/// results.jsonl: one JSON object per finished cell, each with its cell "key". A line is appended
/// with one write and flushed to disk before the cell counts as done, so a kill loses no finished
/// cell. A torn last line (killed mid-write: no final newline) is cut off on open and its cell redone.
/// </summary>
public sealed class ResultsFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly HashSet<string> _keys;
    private readonly Lock _gate = new();

    private ResultsFile(FileStream stream, HashSet<string> keys, IReadOnlyList<JsonObject> earlier, long tornBytes)
    {
        _stream = stream;
        _keys = keys;
        Earlier = earlier;
        TornBytes = tornBytes;
    }

    /// <summary>The lines finished before this open (whole lines only), in file order.</summary>
    public IReadOnlyList<JsonObject> Earlier { get; }

    /// <summary>Bytes of an incomplete last line that were cut off on open (0 when the file was whole).</summary>
    public long TornBytes { get; }

    /// <summary>Opens (creating if needed) for appending; reads the keys of the finished cells.</summary>
    public static ResultsFile Open(string path)
    {
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            int whole = Array.LastIndexOf(bytes, (byte)'\n') + 1;
            var keys = new HashSet<string>(StringComparer.Ordinal);
            var earlier = new List<JsonObject>();
            foreach (var line in Parse(path, Encoding.UTF8.GetString(bytes, 0, whole)))
            {
                keys.Add(KeyOf(path, line.Number, line.Value));
                earlier.Add(line.Value);
            }
            if (whole < bytes.Length) stream.SetLength(whole);
            stream.Seek(whole, SeekOrigin.Begin);
            return new ResultsFile(stream, keys, earlier, bytes.Length - whole);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The cell keys of the file's lines so far (see <see cref="CellKey"/>); right after opening, the earlier runs' cells.</summary>
    public IEnumerable<string> Keys
    {
        get { lock (_gate) return [.. _keys]; }
    }

    public bool Contains(string key)
    {
        lock (_gate) return _keys.Contains(key);
    }

    public int Count
    {
        get { lock (_gate) return _keys.Count; }
    }

    /// <summary>Appends one line (one write, then fsync). Safe to call from several threads.</summary>
    public void Append(JsonObject result)
    {
        string key = KeyOf("result", 0, result);
        var bytes = Encoding.UTF8.GetBytes(result.ToJsonString() + "\n");
        lock (_gate)
        {
            _stream.Write(bytes);
            _stream.Flush(flushToDisk: true);
            _keys.Add(key);
        }
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>
    /// Every complete line of one or more results files (a torn last line is skipped), later lines of
    /// the same key replacing earlier ones. A complete line that is not a JSON object is an error naming file and line.
    /// </summary>
    public static IReadOnlyList<JsonObject> ReadAll(IEnumerable<string> paths)
    {
        var byKey = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var path in paths)
        {
            if (!File.Exists(path)) throw new ArgumentException($"results file '{path}' not found.");
            string text = File.ReadAllText(path);
            foreach (var line in Parse(path, text[..(text.LastIndexOf('\n') + 1)]))
            {
                string key = KeyOf(path, line.Number, line.Value);
                if (!byKey.ContainsKey(key)) order.Add(key);
                byKey[key] = line.Value;
            }
        }
        return [.. order.Select(k => byKey[k])];
    }

    private static IEnumerable<(int Number, JsonObject Value)> Parse(string path, string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0) continue;
            JsonNode? node;
            try { node = JsonNode.Parse(lines[i]); }
            catch (JsonException e) { throw new ArgumentException($"results file '{path}' line {i + 1}: not valid JSON ({e.Message.Split(". ")[0]})."); }
            yield return (i + 1, node as JsonObject ?? throw new ArgumentException($"results file '{path}' line {i + 1}: expected a JSON object."));
        }
    }

    /// <summary>The cell a results line is of: see <see cref="KeyOf(string, int, JsonObject)"/>.</summary>
    public static string CellKey(JsonObject result) => KeyOf("result", 0, result);

    /// <summary>
    /// The line's cell key. A line that records its plan's folder is keyed by its config with paths made relative to that
    /// folder (<see cref="Plans.PortablePaths"/>), as cells are keyed; this is its own "key" for lines written so, and
    /// it lets lines written before keys were location-free (their config holds absolute paths; "plan_folder" added to
    /// them) count for the plan wherever it now lives. Other lines: their "key".
    /// </summary>
    private static string KeyOf(string path, int line, JsonObject result)
    {
        if (result["plan_folder"] is JsonValue f && f.TryGetValue<string>(out var folder) && folder.Length > 0 && result["config"] is JsonObject config)
            return Plans.Cell.Hash(Plans.PortablePaths.Of(config, folder)!);
        return result["key"] is JsonValue v && v.TryGetValue<string>(out var key)
            ? key
            : throw new ArgumentException($"results file '{path}' line {line}: no \"key\" field.");
    }
}
