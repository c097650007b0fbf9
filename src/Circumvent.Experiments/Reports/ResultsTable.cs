using System.Globalization;
using System.Text;

namespace Circumvent.Experiments.Reports;

/// <summary>Mean and sample standard deviation (n − 1; 0 for a single value) of the values that exist.</summary>
public sealed record Statistic(double Mean, double Std, int Count)
{
    public static Statistic? Of(IEnumerable<double?> values)
    {
        var xs = values.OfType<double>().ToList();
        if (xs.Count == 0) return null;
        double mean = xs.Average();
        double std = xs.Count < 2 ? 0 : Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
        return new Statistic(mean, std, xs.Count);
    }

    /// <summary>"91.20 ± 0.35", or "91.20" for a single seed.</summary>
    public string Format() => Count < 2
        ? Mean.ToString("F2", CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Mean:F2} ± {Std:F2}");
}

/// <summary>
/// The paper-style table: one per dataset · architecture; rows attack × poisoning rate, columns
/// defences; each entry ACC and ASR after the defence, mean ± std over seeds. A defence succeeds
/// when its mean ASR is below <see cref="SuccessAsr"/>.
/// </summary>
public sealed record ResultsTable(string Setting, IReadOnlyList<(string Attack, double Rate)> Rows, IReadOnlyList<string> Defenses,
    IReadOnlyDictionary<(string Attack, double Rate, string Defense), ResultsTable.Entry> Entries)
{
    public const double SuccessAsr = 15;

    /// <param name="AccChange">ACC after minus ACC before (the model without defence), per seed: what the defence cost.</param>
    /// <param name="Seeds">Distinct seeds among the entry's results.</param>
    /// <param name="PAsr">ASR after the retuning attack (P-ASR), over the seeds that ran it.</param>
    /// <param name="RepeatedSeeds">Seeds with more than one result (e.g. a plan changed between runs under the same attack
    /// label): all of them are in the statistics, and the table says so.</param>
    /// <param name="QAsr">QRA's ASR on the defended model (Q-ASR), over the seeds that ran it.</param>
    /// <param name="QAsrCleanModel">The same perturbations' ASR on the recipe's clean model.</param>
    public sealed record Entry(int Seeds, Statistic? Acc, Statistic? Asr, Statistic? Ra, Statistic? AccChange = null, Statistic? PAsr = null,
        IReadOnlyList<int>? RepeatedSeeds = null, Statistic? QAsr = null, Statistic? QAsrCleanModel = null)
    {
        public bool Success => Asr is { } asr && asr.Mean < SuccessAsr;

        /// <summary>"87.00 ± 1.41 (−3.00)": ACC with its mean change; no change shown when it is 0 (no defence).</summary>
        public string AccText() => Acc is null ? "-"
            : Acc.Format() + (AccChange is { Mean: not 0 } c ? " (" + c.Mean.ToString("+0.00;−0.00", CultureInfo.InvariantCulture) + ")" : "");

        /// <summary>"45.10 (1.62)": Q-ASR on the defended model, and in brackets the mean on the clean model.</summary>
        public string QAsrText() => QAsr is null ? "-"
            : QAsr.Format() + (QAsrCleanModel is { } c ? " (" + c.Mean.ToString("F2", CultureInfo.InvariantCulture) + ")" : "");
    }

    /// <summary>A column every defence gets after its ACC and ASR when some entry has it: its header and its text.</summary>
    public sealed record ExtraColumn(string Name, Func<Entry, string> Text, string Legend);

    /// <summary>
    /// The post-defence attacks' columns the results have: P-ASR (the retuning attack) and Q-ASR (QRA), each only when some
    /// entry ran it, so tables of plans without them keep two columns per defence.
    /// </summary>
    public IReadOnlyList<ExtraColumn> ExtraColumns =>
    [
        .. HasPAsr ? [new ExtraColumn("P-ASR", e => e.PAsr?.Format() ?? "-",
            "P-ASR: ASR after the retuning attack (5 poisoned of 2% of the training set, 5 epochs; Min et al. 2024).")] : Array.Empty<ExtraColumn>(),
        .. HasQAsr ? [new ExtraColumn("Q-ASR", e => e.QAsrText(),
            "Q-ASR: ASR of QRA's perturbation with the trigger on the defended model, in brackets on the recipe's clean model (Min et al. 2024).")]
            : Array.Empty<ExtraColumn>(),
    ];

    /// <summary>One table per setting, rows and columns in the order they first appear in the results.</summary>
    public static IReadOnlyList<ResultsTable> Build(IReadOnlyList<ResultRecord> records) =>
        [.. records.GroupBy(r => r.Setting).Select(setting =>
        {
            var entries = setting.GroupBy(r => (r.Attack, r.PoisonRate, r.Defense)).ToDictionary(
                g => g.Key,
                g =>
                {
                    var bySeed = g.GroupBy(r => r.Seed).ToList();
                    return new Entry(bySeed.Count, Statistic.Of(g.Select(r => r.After?.Acc)), Statistic.Of(g.Select(r => r.After?.Asr)),
                        Statistic.Of(g.Select(r => r.After?.Ra)), Statistic.Of(g.Select(r => r.After?.Acc - r.Before?.Acc)), Statistic.Of(g.Select(r => r.PAsr)),
                        [.. bySeed.Where(s => s.Count() > 1).Select(s => s.Key).Order()],
                        Statistic.Of(g.Select(r => r.QAsr)), Statistic.Of(g.Select(r => r.QAsrCleanModel)));
                });
            return new ResultsTable(setting.Key,
                [.. setting.Select(r => (r.Attack, r.PoisonRate)).Distinct()],
                [.. setting.Select(r => r.Defense).Distinct()],
                entries);
        })];

    public Entry? At(string attack, double rate, string defense) => Entries.GetValueOrDefault((attack, rate, defense));

    /// <summary>Whether any entry has a P-ASR: then the tables get a P-ASR column per defence.</summary>
    public bool HasPAsr => Entries.Values.Any(e => e.PAsr is not null);

    /// <summary>Whether any entry has a QRA result: then the tables get a Q-ASR column per defence.</summary>
    public bool HasQAsr => Entries.Values.Any(e => e.QAsr is not null);

    /// <summary>"5%"; "-" for an attack that poisons no data (BadEncoder, or an encoder left clean).</summary>
    public static string Rate(double rate) => rate == 0 ? "-" : (rate * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"### {Setting}").AppendLine();
        md.Append("| Attack | Rate |");
        var extra = ExtraColumns;
        foreach (var d in Defenses) md.Append($" {d} ACC | {d} ASR |" + string.Concat(extra.Select(c => $" {d} {c.Name} |")));
        md.AppendLine().Append("|---|---:|");
        foreach (var _ in Defenses) md.Append("---:|---:|" + string.Concat(extra.Select(_ => "---:|")));
        md.AppendLine();
        foreach (var (attack, rate) in Rows)
        {
            md.Append($"| {attack} | {Rate(rate)} |");
            foreach (var d in Defenses)
            {
                var e = At(attack, rate, d);
                string asr = e?.Asr?.Format() ?? "-";
                md.Append($" {e?.AccText() ?? "-"} | {(e?.Success == true ? $"**{asr}** ✓" : asr)} |");
                foreach (var c in extra) md.Append($" {(e is null ? "-" : c.Text(e))} |");
            }
            md.AppendLine();
        }
        int seeds = Entries.Values.Max(e => e.Seeds);
        if (Setting.EndsWith($" → {ResultRecord.Knn}", StringComparison.Ordinal))
            md.AppendLine().AppendLine("ACC here is the encoder's kNN accuracy (k 200, T 0.1) on the pre-training set's test split; no ASR is measured by kNN.");
        md.AppendLine().AppendLine($"ACC and ASR (%) after each defence, mean ± sample std over up to {seeds} seed(s), ACC's mean change against the undefended model in brackets; ✓ = defence succeeded (mean ASR < {SuccessAsr:0}%)." +
                                 string.Concat(extra.Select(c => " " + c.Legend)));
        // Two results of one seed under one label are two different cells (the plan changed, or two plans share a label):
        // averaging them as if they were seeds would hide it.
        foreach (var ((attack, rate, defense), e) in Entries.Where(kv => kv.Value.RepeatedSeeds is { Count: > 0 }))
            md.AppendLine().AppendLine($"Note: {attack} {Rate(rate)} · {defense} has more than one result for seed(s) {string.Join(", ", e.RepeatedSeeds!)} " +
                                       "(different cells under one attack label); all are in its mean and std.");
        return md.ToString();
    }

    public const string CsvHeader = "dataset_architecture,attack,poison_rate,defense,seeds,acc_mean,acc_std,asr_mean,asr_std,ra_mean,ra_std,acc_change_mean,p_asr_mean,p_asr_std,q_asr_mean,q_asr_std,q_asr_clean_model_mean,success";

    public IEnumerable<string> CsvRows()
    {
        static string N(double? v) => v is double x ? x.ToString("0.####", CultureInfo.InvariantCulture) : "";
        foreach (var (attack, rate) in Rows)
        foreach (var d in Defenses)
        {
            if (At(attack, rate, d) is not { } e) continue;
            yield return string.Join(",", Csv(Setting), Csv(attack), N(rate), Csv(d), e.Seeds, N(e.Acc?.Mean), N(e.Acc?.Std),
                N(e.Asr?.Mean), N(e.Asr?.Std), N(e.Ra?.Mean), N(e.Ra?.Std), N(e.AccChange?.Mean),
                N(e.PAsr?.Mean), N(e.PAsr?.Std), N(e.QAsr?.Mean), N(e.QAsr?.Std), N(e.QAsrCleanModel?.Mean), e.Success ? "true" : "false");
        }
    }

    private static string Csv(string s) => s.IndexOfAny([',', '"', '\n']) >= 0 ? $"\"{s.Replace("\"", "\"\"")}\"" : s;
}
