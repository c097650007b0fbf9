using Circumvent.Method.Defenses;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circumvent.Method.Evaluation;

namespace Circumvent.Method.Runs;

/// <summary>
/// The on-disk side of a resumable defence run:
/// <c>config.json</c> (what the run is; a rerun must match it), <c>state.json</c> (finished units,
/// scores, time spent) and one file per finished unit. Every file is written atomically.
/// </summary>
public sealed class RunFolder
{
    public const string ConfigFile = "config.json";
    public const string StateFile = "state.json";
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private RunFolder(string path, JsonObject config, JsonObject state)
    {
        Path = path;
        Config = config;
        _state = state;
    }

    private readonly JsonObject _state;

    public string Path { get; }
    public JsonObject Config { get; }

    /// <summary>
    /// Creates the folder (or reuses it after checking its config equals <paramref name="config"/>, or differs only in where
    /// inputs of the same content are: then config.json is rewritten to name their new places; see <see cref="InputContent"/>).
    /// Throws <see cref="ArgumentException"/> naming the first difference otherwise.
    /// </summary>
    public static RunFolder Open(string path, JsonObject config)
    {
        string full = System.IO.Path.GetFullPath(path);
        string configPath = System.IO.Path.Combine(full, ConfigFile);
        if (File.Exists(full))
            throw new ArgumentException($"run folder '{path}' is a file; expected a folder (or a path that does not exist yet).");
        if (Directory.Exists(full) && File.Exists(configPath))
        {
            var existing = ReadObject(configPath);
            if (!JsonNode.DeepEquals(existing, config))
            {
                var (storedContent, wantedContent) = (existing["input"]?[InputContent.Field], config["input"]?[InputContent.Field]);
                var wantedBare = WithoutContent(config);
                bool onlyMoved = InputContent.SameButLocations(WithoutContent(existing), wantedBare);
                if (onlyMoved && storedContent is not null && JsonNode.DeepEquals(storedContent, wantedContent))
                    AtomicText.Write(configPath, config.ToJsonString(Indented)); // the same inputs, moved: name where they are now
                else if (!(storedContent is null && JsonNode.DeepEquals(existing, wantedBare)))
                {
                    // (A folder made before input.content was recorded resumes when all else is equal, as it did then.)
                    string difference = onlyMoved && storedContent is not null
                        ? "its inputs now hold other content; " + FirstDifference(storedContent, wantedContent, "input." + InputContent.Field)
                        : FirstDifference(existing, config, "");
                    throw new ArgumentException($"run folder '{path}' belongs to a different purification ({difference}); " +
                                                "rerun with the same settings to resume, or delete the folder / choose another --out to start over.");
                }
            }
            string statePath = System.IO.Path.Combine(full, StateFile);
            var state = File.Exists(statePath) ? ReadObject(statePath) : NewState();
            return new RunFolder(full, config, state);
        }
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new ArgumentException($"run folder '{path}' exists, is not empty and has no {ConfigFile}; refusing to mix a purification into it.");
        Directory.CreateDirectory(full);
        AtomicText.Write(configPath, config.ToJsonString(Indented));
        var fresh = new RunFolder(full, config, NewState());
        fresh.SaveState();
        return fresh;
    }

    /// <summary>Reads a run folder's config without changing anything (for `curve`).</summary>
    public static JsonObject ReadConfig(string path)
    {
        string configPath = System.IO.Path.Combine(path, ConfigFile);
        if (!File.Exists(configPath))
            throw new ArgumentException($"'{path}' is not a purification run folder (no {ConfigFile}).");
        return ReadObject(configPath);
    }

    public string FileFor(DefenseUnit unit, string extension) => System.IO.Path.Combine(Path, unit.Id + extension);

    public bool IsFinished(DefenseUnit unit) => Completed.Any(n => n?.GetValue<string>() == unit.Id);

    public void MarkFinished(DefenseUnit unit, double seconds)
    {
        if (!IsFinished(unit)) Completed.Add(unit.Id);
        AddSeconds(seconds);
    }

    public BackdoorScores? Scores(string key) =>
        _state["scores"]![key] is JsonObject s ? ScoresJson.Parse(s) : null;

    public void SaveScores(string key, BackdoorScores scores, double seconds)
    {
        _state["scores"]![key] = ScoresJson.ToNode(scores);
        AddSeconds(seconds);
    }

    public double ComputeSeconds => _state["compute_seconds"]!.GetValue<double>();

    /// <summary>What the defence found (see <see cref="ResumableRun.Record"/>), by name; empty before any.</summary>
    public JsonObject Findings => _state["findings"] as JsonObject ?? [];

    /// <summary>Keeps <paramref name="value"/> under <paramref name="name"/> in state.json, replacing an earlier value of that name.</summary>
    public void SaveFinding(string name, JsonNode value)
    {
        if (_state["findings"] is not JsonObject findings) _state["findings"] = findings = [];
        findings[name] = value.DeepClone();
        SaveState();
    }

    public void SaveState() => AtomicText.Write(System.IO.Path.Combine(Path, StateFile), _state.ToJsonString(Indented));

    private JsonArray Completed => _state["completed"]!.AsArray();

    private void AddSeconds(double seconds)
    {
        _state["compute_seconds"] = ComputeSeconds + seconds;
        SaveState();
    }

    private static JsonObject NewState() => new()
    {
        ["completed"] = new JsonArray(),
        ["scores"] = new JsonObject(),
        ["compute_seconds"] = 0.0,
    };

    private static JsonObject ReadObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new ArgumentException($"'{path}' does not hold a JSON object.");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"'{path}' is not valid JSON ({e.Message}); delete the run folder to start over.");
        }
    }

    internal static JsonObject WithoutContent(JsonObject config)
    {
        var copy = config.DeepClone().AsObject();
        (copy["input"] as JsonObject)?.Remove(InputContent.Field);
        return copy;
    }

    /// <summary>"options.rounds: 3 vs 2"-style description of where two configs part.</summary>
    private static string FirstDifference(JsonNode? stored, JsonNode? wanted, string path)
    {
        if (stored is JsonObject a && wanted is JsonObject b)
        {
            foreach (var key in a.Select(kv => kv.Key).Union(b.Select(kv => kv.Key)))
            {
                a.TryGetPropertyValue(key, out var x);
                b.TryGetPropertyValue(key, out var y);
                if (!JsonNode.DeepEquals(x, y)) return FirstDifference(x, y, path.Length == 0 ? key : $"{path}.{key}");
            }
        }
        string Show(JsonNode? n) => n?.ToJsonString() ?? "absent";
        return $"{(path.Length == 0 ? "config" : path)}: stored {Show(stored)}, now {Show(wanted)}";
    }
}

/// <summary>ACC/ASR/RA as JSON {"acc": .., "asr": .., "ra": .., "asr_all": ..} (percent; null when not measured).</summary>
public static class ScoresJson
{
    /// <summary>"asr_all" (ASR over every test image, <see cref="BackdoorScores.AsrAll"/>) is written only when measured.</summary>
    public static JsonObject ToNode(BackdoorScores s)
    {
        var node = new JsonObject { ["acc"] = s.Acc, ["asr"] = s.Asr, ["ra"] = s.Ra };
        if (s.AsrAll is { } all) node["asr_all"] = all;
        if (s.Knn is { } knn) node["knn"] = knn;
        return node;
    }

    public static BackdoorScores Parse(JsonObject o) => new(
        o["acc"]!.GetValue<double>(),
        o["asr"]?.GetValue<double>(),
        o["ra"]?.GetValue<double>(),
        o["asr_all"]?.GetValue<double>(),
        o["knn"]?.GetValue<double>());
}
