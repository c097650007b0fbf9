namespace Circumvent.Cli;

/// <summary>The typed exceptions of the data and model layers that describe a bad input file.</summary>
internal static class LowerLayerErrors
{
    public static bool IsInputError(Exception ex) => ex is Circumvent.Data.DataFormatException
        || ex.GetType().Name == "CheckpointException"; // TODO: typed check once the models branch is merged
}
