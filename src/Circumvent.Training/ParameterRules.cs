using System.Globalization;
using System.Text.RegularExpressions;

namespace Circumvent.Training;

/// <summary>A tensor-name pattern: '*' stands for any text (dots included), everything else is literal; the whole name must match.</summary>
public sealed class NamePattern
{
    private readonly Regex _regex;

    public NamePattern(string pattern)
    {
        if (string.IsNullOrWhiteSpace(pattern)) throw new ArgumentException("a tensor-name pattern is empty.");
        Text = pattern;
        _regex = new Regex("^" + string.Join(".*", pattern.Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant);
    }

    public string Text { get; }

    public bool Matches(string name) => _regex.IsMatch(name);

    /// <summary>Throws, naming <paramref name="option"/>, when the pattern matches none of <paramref name="names"/> (a typo would silently do nothing).</summary>
    public void RequireMatch(string option, IReadOnlyCollection<string> names)
    {
        if (!names.Any(Matches))
            throw new ArgumentException($"{option} '{Text}' matches no trained tensor (they are named like '{names.FirstOrDefault()}').");
    }

    /// <summary>Checks every --freeze and --lr-scale pattern of <paramref name="config"/> against the trained tensors' names.</summary>
    public static void RequireMatches(TrainingConfig config, IReadOnlyCollection<string> trainedNames)
    {
        foreach (var rule in (config.Freeze ?? []).Select(FreezeRule.Parse)) rule.Pattern.RequireMatch("--freeze", trainedNames);
        foreach (var rule in (config.LearningRateScales ?? []).Select(LearningRateScale.Parse)) rule.Pattern.RequireMatch("--lr-scale", trainedNames);
    }
}

/// <summary>
/// One --freeze rule, "PATTERN" (never trained) or "PATTERN@N" (trained for the first N epochs, frozen from epoch N on:
/// airbench's "0.bias@3").
/// </summary>
public sealed record FreezeRule(NamePattern Pattern, int FromEpoch)
{
    public static FreezeRule Parse(string rule)
    {
        int at = rule.LastIndexOf('@');
        if (at < 0) return new FreezeRule(new NamePattern(rule), 0);
        if (!int.TryParse(rule[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int epochs))
            throw new ArgumentException($"--freeze '{rule}': expected PATTERN or PATTERN@EPOCHS with a whole number of epochs ≥ 0.");
        return new FreezeRule(new NamePattern(rule[..at]), epochs);
    }

    public bool FrozenIn(string name, int epoch) => epoch >= FromEpoch && Pattern.Matches(name);
}

/// <summary>One --lr-scale rule "PATTERN=FACTOR": matching tensors form an SGD group at lr × FACTOR (weight decay ÷ FACTOR).</summary>
public sealed record LearningRateScale(NamePattern Pattern, double Factor)
{
    public static LearningRateScale Parse(string rule)
    {
        int eq = rule.LastIndexOf('=');
        if (eq < 0 || !double.TryParse(rule[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double factor) || !(factor > 0) || !double.IsFinite(factor))
            throw new ArgumentException($"--lr-scale '{rule}': expected PATTERN=FACTOR with a positive factor, e.g. '*.norm*.bias=64'.");
        return new LearningRateScale(new NamePattern(rule[..eq]), factor);
    }

    /// <summary>The factor of each name: that of the first rule matching it, else 1.</summary>
    public static double[] For(IEnumerable<string> names, IReadOnlyList<string>? rules)
    {
        var parsed = (rules ?? []).Select(Parse).ToArray();
        return names.Select(n => parsed.FirstOrDefault(r => r.Pattern.Matches(n))?.Factor ?? 1).ToArray();
    }
}
