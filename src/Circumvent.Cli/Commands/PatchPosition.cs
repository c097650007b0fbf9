using System.Globalization;
using Circumvent.Attacks;

namespace Circumvent.Cli.Commands;

/// <summary>
/// `--patch-position`: where BadNet's patch goes, as a corner name or the column and row of its top-left pixel.
/// Stored in the attack definition as <see cref="AttackDefinition.PatchRow"/>/<see cref="AttackDefinition.PatchColumn"/>,
/// where null means flush with the bottom / right edge, so a corner fits any input size.
/// </summary>
internal static class PatchPosition
{
    public const string Description =
        "BadNet: where the patch goes: bottom-right (default), bottom-left, top-left, top-right, or X,Y = column and row of its top-left pixel (0-based).";

    public static AttackDefinition Apply(AttackDefinition attack, string? text)
    {
        string value = (text ?? "").Trim().ToLowerInvariant();
        (int? row, int? column) = value switch
        {
            "bottom-right" => ((int?)null, (int?)null),
            "bottom-left" => (null, 0),
            "top-left" => (0, 0),
            "top-right" => (0, null),
            _ => Coordinates(value, text),
        };
        return attack with { PatchRow = row, PatchColumn = column };
    }

    private static (int? Row, int? Column) Coordinates(string value, string? text)
    {
        var parts = value.Split(',');
        if (parts.Length == 2
            && int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int x)
            && int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int y))
            return (y, x);
        throw new UsageException($"--patch-position must be bottom-right, bottom-left, top-left, top-right or X,Y (two whole numbers ≥ 0), got '{text}'.");
    }
}
