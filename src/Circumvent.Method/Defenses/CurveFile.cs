using System.Globalization;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Method.Defenses;

/// <summary>
/// A trained Bézier curve as one safetensors file: every state_dict entry three times, under
/// "start.", "middle." and "end." prefixes, with the architecture, round and stage in the metadata.
/// </summary>
public static class CurveFile
{
    public const string Extension = ".curve.safetensors";
    private const string KindKey = "circumvent.kind";
    private const string RoundKey = "circumvent.curve.round";
    private const string StageKey = "circumvent.curve.stage";
    private static readonly string[] Bends = ["start", "middle", "end"];

    /// <param name="Network">The network the bends are weights of (the built-in, or an encoder with its projection head).</param>
    public sealed record Content(ArchitectureConfig Architecture, BezierCurve Curve, int Round, string Stage, IArchitecture Network);

    /// <summary>Writes atomically (the safetensors writer goes through a temp file).</summary>
    public static void Save(string path, IArchitecture network, BezierCurve curve, int round, string stage)
    {
        var tensors = new List<SafeTensor>();
        ParameterSet[] sets = [curve.Start, curve.Middle, curve.End];
        for (int b = 0; b < Bends.Length; b++)
            foreach (var entry in sets[b])
                tensors.Add(SafeTensor.FromFloats($"{Bends[b]}.{entry.Name}", entry.Tensor.Shape.ToArray(), entry.Tensor.ToArray()));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = "pt",
            [KindKey] = "bezier-curve",
            [ModelCheckpoint.ArchitectureKey] = ArchitectureConfigJson.Serialize(network.Config),
            [RoundKey] = round.ToString(CultureInfo.InvariantCulture),
            [StageKey] = stage,
        };
        foreach (var (key, value) in ModelCheckpoint.RoleMetadata(network)) metadata[key] = value;
        SafeTensorsWriter.Write(path, tensors, metadata);
    }

    public static Content Load(string path)
    {
        var content = SafeTensorsReader.Read(path);
        var meta = content.Metadata;
        if (meta.GetValueOrDefault(KindKey) != "bezier-curve" || !meta.TryGetValue(ModelCheckpoint.ArchitectureKey, out var archJson))
            throw new CheckpointException(path, "is not a curve file (expected metadata circumvent.kind = bezier-curve and an architecture).");
        ArchitectureConfig config;
        try { config = ArchitectureConfigJson.Parse(archJson); }
        catch (FormatException e) { throw new CheckpointException(path, $"architecture metadata is invalid: {e.Message}", inner: e); }
        var found = content.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var arch = ModelCheckpoint.NetworkFor(path, config, meta, name => found.TryGetValue("start." + name, out var t) ? t.Shape : null);
        var sets = new ParameterSet[Bends.Length];
        for (int b = 0; b < Bends.Length; b++)
        {
            sets[b] = new ParameterSet();
            foreach (var spec in arch.Tensors)
            {
                string name = $"{Bends[b]}.{spec.Name}";
                if (!found.TryGetValue(name, out var t) || t.Floats is null)
                    throw new CheckpointException(path, $"missing float tensor for the {Bends[b]} bend", name);
                if (!t.Shape.SequenceEqual(spec.Shape))
                    throw new CheckpointException(path, $"shape {Shape.Format(t.Shape)} where {config.Name} expects {Shape.Format(spec.Shape)}", name);
                sets[b].Add(spec.Name, new Tensor(spec.Shape.ToArray(), t.Floats), spec.Role);
            }
        }
        int round = int.TryParse(meta.GetValueOrDefault(RoundKey), NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : 0;
        return new Content(config, new BezierCurve(sets[0], sets[1], sets[2]), round, meta.GetValueOrDefault(StageKey) ?? "", arch);
    }
}
