using Circumvent.Data;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Described;

namespace Circumvent.Cli;

/// <summary>The typed exceptions of the data and model layers that describe a bad input file.</summary>
internal static class LowerLayerErrors
{
    public static bool IsInputError(Exception ex) => ex is DataFormatException or CheckpointException or DescriptionException;
}
