using System.CommandLine;
using Circumvent.Data;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `--normalize MEAN,STD | M1,M2,M3/S1,S2,S3 | none`: how input pixels (0–1 scale) are normalised before the
/// network, (x − mean) / std per channel. On train it replaces the dataset's default; on eval and purify it
/// says what a model from elsewhere expects (a checkpoint written here records it, so it is then not needed).
/// </summary>
internal sealed class NormalizeOption
{
    private readonly Option<string?> _option = new("--normalize")
    {
        Description = "Input normalisation (x − mean)/std on the 0–1 scale: MEAN,STD for all channels, M1,M2,M3/S1,S2,S3 per channel, " +
                      "or none (raw [0, 1]). Default: what the checkpoint records, else the dataset's standard one.",
    };

    public void AddTo(Command command) => command.Options.Add(_option);

    /// <summary>The parsed option, or null when it is absent.</summary>
    public Normalization? Parse(ParseResult parse)
    {
        if (parse.GetValue(_option) is not { } text) return null;
        try
        {
            return Normalization.Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
