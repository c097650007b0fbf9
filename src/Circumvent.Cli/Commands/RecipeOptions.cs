using System.CommandLine;
using System.Globalization;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `train`'s recipe options: --recipe NAME (a <see cref="TrainingRecipes"/> preset) and the settings it is made of
/// beyond the classic ones. An option given on the command line always wins over the preset.
/// </summary>
internal sealed class RecipeOptions
{
    private readonly Option<string?> _recipe = new("--recipe") { Description = $"Preset of every training default: {string.Join(", ", TrainingRecipes.Names)} (airnet's airbench94 recipe); any option given still wins." };
    private readonly Option<string?> _triangle = new("--triangle") { Description = "Triangle schedule START,PEAK_AT,END: factor START at step 0, 1 at PEAK_AT of the run, END at its end (default 0.2,0.23,0.07)." };
    private readonly Option<bool> _whiten = new("--whiten-init") { Description = "airnet: start the first conv from the patch whitening of the first 5000 training images." };
    private readonly Option<bool> _noWhiten = new("--no-whiten-init") { Description = "Keep airnet's first conv as initialised." };
    private readonly Option<string[]> _freeze = new("--freeze") { Description = "Tensors not trained, by name pattern (* = any text); PATTERN@N trains them N epochs first. Repeatable; 'none' clears." };
    private readonly Option<string[]> _lrScale = new("--lr-scale") { Description = "SGD parameter group PATTERN=FACTOR: lr × FACTOR, weight decay ÷ FACTOR. Repeatable; 'none' clears." };
    private readonly Option<double?> _bnMomentum = new("--bn-momentum") { Description = "BN running-statistics momentum, PyTorch convention (default 0.1)." };
    private readonly Option<int?> _lookaheadEvery = new("--lookahead-every") { Description = "Lookahead/EMA of all weights and BN buffers every N steps (0 = off)." };
    private readonly Option<double?> _lookaheadDecay = new("--lookahead-decay") { Description = $"Lookahead decay base d: ρ = d^N·(step/total)³ (default {Lookahead.DefaultDecay})." };
    private readonly Option<int?> _translate = new("--translate") { Description = "Augmentation: translate by up to ±N pixels with reflect padding (instead of the zero-padded crop)." };
    private readonly Option<string?> _flip = new("--flip") { Description = "Augmentation's flip: random or alternate (each image flipped in every other epoch)." };
    private readonly Option<int?> _tta = new("--tta") { Description = "Test-time augmentation of the final test accuracy: 0 none, 1 mirror, 2 mirror + translate." };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _recipe, _triangle, _whiten, _noWhiten, _freeze, _lrScale, _bnMomentum, _lookaheadEvery, _lookaheadDecay, _translate, _flip, _tta })
            command.Options.Add(option);
    }

    /// <summary>The preset named by --recipe over <paramref name="defaults"/> (unchanged without one); lr follows the batch size and momentum given.</summary>
    public TrainingConfig Baseline(ParseResult parse, TrainingConfig defaults, Option<int> batchSize, Option<double> momentum) =>
        parse.GetValue(_recipe) is not { } name
            ? defaults
            : TrainingRecipes.Apply(name.ToLowerInvariant(), defaults, Given(parse, batchSize) ? parse.GetValue(batchSize) : null,
                Given(parse, momentum) ? parse.GetValue(momentum) : null);

    /// <summary><paramref name="config"/> with every recipe option given on the command line.</summary>
    public TrainingConfig Apply(ParseResult parse, TrainingConfig config)
    {
        if (parse.GetValue(_whiten) && parse.GetValue(_noWhiten))
            throw new UsageException("--whiten-init and --no-whiten-init contradict each other; give one.");
        int? every = Given(parse, _lookaheadEvery) ? parse.GetValue(_lookaheadEvery) : config.LookaheadEvery;
        if (every is < 0) throw new UsageException($"--lookahead-every must be ≥ 0 (0 = off), got {every}.");
        return config with
        {
            Triangle = Given(parse, _triangle) ? ParseTriangle(parse.GetValue(_triangle)!) : config.Schedule == "triangle" ? config.Triangle ?? TrainingConfig.DefaultTriangle : config.Triangle,
            WhitenInit = parse.GetValue(_whiten) || (!parse.GetValue(_noWhiten) && config.WhitenInit),
            Freeze = Given(parse, _freeze) ? Rules(parse.GetValue(_freeze)!) : config.Freeze,
            LearningRateScales = Given(parse, _lrScale) ? Rules(parse.GetValue(_lrScale)!) : config.LearningRateScales,
            BatchNormMomentum = Given(parse, _bnMomentum) ? parse.GetValue(_bnMomentum) : config.BatchNormMomentum,
            LookaheadEvery = every is 0 ? null : every,
            LookaheadDecay = every is 0 ? null : Given(parse, _lookaheadDecay) ? parse.GetValue(_lookaheadDecay) : config.LookaheadDecay,
            Translate = Given(parse, _translate) ? parse.GetValue(_translate) : config.Translate,
            Flip = Given(parse, _flip) ? parse.GetValue(_flip)?.ToLowerInvariant() : config.Flip,
            TtaLevel = Given(parse, _tta) ? parse.GetValue(_tta) : config.TtaLevel,
        };
    }

    /// <summary>The option's value when given on the command line, else <paramref name="fallback"/> (the preset's or the default).</summary>
    public static T Pick<T>(ParseResult parse, Option<T> option, T fallback) => Given(parse, option) ? parse.GetValue(option)! : fallback;

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    // "none" alone clears the list (e.g. the preset's), so a run can train every tensor.
    private static string[]? Rules(string[] given) => given is ["none"] ? null : given;

    private static double[] ParseTriangle(string text)
    {
        var parts = text.Split(',');
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                throw new UsageException($"--triangle must be START,PEAK_AT,END (three numbers), got '{text}'.");
        return values; // the config's Validate checks the count and ranges
    }
}
