namespace Circumvent.Models.Checkpoints;

/// <summary>A checkpoint file that cannot be read, written or matched to its architecture; names the file and, when known, the tensor.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string filePath, string problem, string? tensorName = null, Exception? inner = null)
        : base(Compose(filePath, problem, tensorName), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
        Problem = problem;
    }

    public string FilePath { get; }
    public string? TensorName { get; }
    /// <summary>The message without the file/tensor prefix.</summary>
    public string Problem { get; }

    private static string Compose(string filePath, string problem, string? tensorName) =>
        tensorName is null ? $"Checkpoint '{filePath}': {problem}" : $"Checkpoint '{filePath}', tensor '{tensorName}': {problem}";
}
