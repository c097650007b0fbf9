using System.Text.Json.Nodes;

namespace Circumvent.Experiments.Reports;

/// <summary>ACC/ASR/RA in percent (ASR/RA null when no attack was measured).</summary>
public sealed record Scores(double Acc, double? Asr, double? Ra);

/// <summary>One trained curve sampled along t.</summary>
public sealed record CurveSeries(int Round, string Stage, IReadOnlyList<double> T, IReadOnlyList<double> Acc, IReadOnlyList<double?> Asr);

/// <summary>One results line, as the report reads it (an encoder cell's line is several: see <see cref="ParseAll"/>).</summary>
/// <param name="PAsr">ASR after the retuning attack that followed the defence ("p_asr"); null when none ran.</param>
/// <param name="QAsr">QRA's perturbation's ASR on the defended model ("qra.asr"); null when QRA did not run.</param>
/// <param name="QAsrCleanModel">The same perturbation's ASR on the clean model of the recipe ("qra.clean_model_asr"): its
/// transfer, the check that it reactivates a backdoor rather than being an adversarial example of any model.</param>
/// <param name="ScoredOn">An encoder's scores: "kNN" (ACC = kNN accuracy on the pre-training set) or the downstream set's name.</param>
public sealed record ResultRecord(
    string Key, string Dataset, string Architecture, double Width, string Attack, double PoisonRate, string Defense, int Seed,
    Scores? Before, Scores? After, IReadOnlyList<(int Round, Scores Scores)> Rounds, IReadOnlyList<CurveSeries> Curves, double? T, double? PAsr = null,
    string? ScoredOn = null, double? QAsr = null, double? QAsrCleanModel = null)
{
    public const string Knn = "kNN";

    /// <summary>"mnist · mlp×0.0625" (an encoder's: "cifar10 · resnet18×0.25 → gtsrb"): the table a record belongs to.</summary>
    public string Setting => $"{Dataset.Split(':')[0]} · {(Width == 1 ? Architecture : $"{Architecture}×{Width:0.####}")}" + (ScoredOn is null ? "" : $" → {ScoredOn}");

    /// <summary>
    /// A classifier's line as one record; an encoder cell's line (it has "stages_scored_on") as one record for its kNN
    /// accuracy (knn_before/after) and one per downstream set NAME (acc_NAME_before/after, asr_NAME_before/after), the
    /// defence's stages and curves on the record of the set they were scored on.
    /// </summary>
    public static IEnumerable<ResultRecord> ParseAll(JsonObject line)
    {
        var record = Parse(line);
        if (line["stages_scored_on"]?.GetValue<string>() is not { } stagesOn)
        {
            yield return record;
            yield break;
        }
        static double? Value(JsonObject o, string field) => o[field]?.GetValue<double>();
        Scores? At(string acc, string? asr) => Value(line, acc) is { } a ? new Scores(a, asr is null ? null : Value(line, asr), null) : null;
        yield return record with { ScoredOn = Knn, Before = At("knn_before", null), After = At("knn_after", null), Rounds = [], Curves = [] };
        foreach (var (field, _) in line)
        {
            if (!field.StartsWith("acc_", StringComparison.Ordinal) || !field.EndsWith("_before", StringComparison.Ordinal)) continue;
            string name = field["acc_".Length..^"_before".Length];
            bool stages = name == stagesOn;
            yield return record with
            {
                ScoredOn = name,
                Before = At($"acc_{name}_before", $"asr_{name}_before"),
                After = At($"acc_{name}_after", $"asr_{name}_after"),
                Rounds = stages ? record.Rounds : [],
                Curves = stages ? record.Curves : [],
            };
        }
    }

    public static ResultRecord Parse(JsonObject line)
    {
        string key = line["key"]?.GetValue<string>() ?? "?";
        T Need<T>(string field) => line[field] is JsonValue v && v.TryGetValue<T>(out var x)
            ? x
            : throw new ArgumentException($"results line of cell {key}: field '{field}' is missing or not a {typeof(T).Name}.");
        var rounds = (line["rounds"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Select(r => (r["round"]!.GetValue<int>(), ScoresOf(r)!))
            .ToList();
        var curves = (line["curves"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Select(c => new CurveSeries(c["round"]!.GetValue<int>(), c["stage"]!.GetValue<string>(),
                Doubles(c["t"]).Select(v => v ?? 0).ToList(), Doubles(c["acc"]).Select(v => v ?? 0).ToList(), Doubles(c["asr"])))
            .ToList();
        return new ResultRecord(key, Need<string>("dataset"), Need<string>("architecture"), Need<double>("width"), Need<string>("attack"),
            Need<double>("poison_rate"), Need<string>("defense"), Need<int>("seed"),
            ScoresOf(line, "_before"), ScoresOf(line, "_after"), rounds, curves,
            line["config"]?["defense_options"]?["t"]?.GetValue<double>(), line["p_asr"]?.GetValue<double>(),
            QAsr: line["qra"]?["asr"]?.GetValue<double>(), QAsrCleanModel: line["qra"]?["clean_model_asr"]?.GetValue<double>());
    }

    private static Scores? ScoresOf(JsonObject o, string suffix = "") =>
        o["acc" + suffix] is JsonValue acc
            ? new Scores(acc.GetValue<double>(), o["asr" + suffix]?.GetValue<double>(), o["ra" + suffix]?.GetValue<double>())
            : null;

    private static List<double?> Doubles(JsonNode? node) => [.. (node as JsonArray ?? []).Select(v => v?.GetValue<double>())];
}
