using Circumvent.Data;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// Reading the --model of `eval`, `purify` and the experiment runner in two steps, so a broken file is
/// reported before the (slow) dataset load and the dataset then supplies the input size that
/// architecture inference needs.
/// </summary>
public static class ModelLoading
{
    /// <summary>Every tensor and the metadata of a safetensors or PyTorch checkpoint.</summary>
    /// <exception cref="ArgumentException">The file does not exist.</exception>
    public static SafeTensorsContent Read(string modelPath)
    {
        if (!File.Exists(modelPath))
            throw new ArgumentException($"--model '{modelPath}': file not found.");
        return CheckpointFiles.Read(modelPath);
    }

    /// <summary>
    /// The checkpoint built as <paramref name="settings"/> say, checked to take the <paramref name="test"/> split's
    /// images and classes. <paramref name="log"/> hears what was inferred, <paramref name="warn"/> every load warning.
    /// </summary>
    public static ModelCheckpoint Build(string modelPath, SafeTensorsContent content, ModelLoadSettings settings, string datasetName, ImageDataset test,
        Action<string>? log, Action<string>? warn)
    {
        var checkpoint = settings.Build(modelPath, content, test.Height, test.Width, log);
        foreach (var warning in checkpoint.Warnings) warn?.Invoke(warning);
        // An encoder's class count is its pre-training set's, which no probe or kNN depends on: only the images must fit.
        ArchitectureFit.Check($"--model '{modelPath}'", checkpoint.Architecture, datasetName, test, checkClasses: checkpoint.Encoder is null);
        return checkpoint;
    }
}
