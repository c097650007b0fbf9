using Circumvent.Data;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// Reading the --model of `eval`, `purify` and the experiment runner in two steps, so a broken file is
/// reported before the (slow) dataset load and the dataset then supplies the input size that
/// architecture inference needs. Messages name the option the file came from (--model unless told, e.g. --qra).
/// </summary>
public static class ModelLoading
{
    /// <summary>The option a command's own model comes from; the default of every <c>option</c> parameter here.</summary>
    public const string ModelOption = "--model";

    /// <summary>Every tensor and the metadata of a safetensors or PyTorch checkpoint.</summary>
    /// <exception cref="ArgumentException">The file does not exist.</exception>
    public static SafeTensorsContent Read(string modelPath, string option = ModelOption)
    {
        if (!File.Exists(modelPath))
            throw new ArgumentException($"{option} '{modelPath}': file not found.");
        return Named(option, () => CheckpointFiles.Read(modelPath));
    }

    /// <summary>
    /// The checkpoint built as <paramref name="settings"/> say, checked to take the <paramref name="test"/> split's
    /// images and classes. <paramref name="log"/> hears what was inferred, <paramref name="warn"/> every load warning.
    /// </summary>
    public static ModelCheckpoint Build(string modelPath, SafeTensorsContent content, ModelLoadSettings settings, string datasetName, ImageDataset test,
        Action<string>? log, Action<string>? warn, string option = ModelOption)
    {
        var checkpoint = Named(option, () => settings.Build(modelPath, content, test.Height, test.Width, log));
        foreach (var warning in checkpoint.Warnings) warn?.Invoke(warning);
        // An encoder's class count is its pre-training set's, which no probe or kNN depends on: only the images must fit.
        ArchitectureFit.Check($"{option} '{modelPath}'", checkpoint.Architecture, datasetName, test, checkClasses: checkpoint.Encoder is null);
        return checkpoint;
    }

    /// <summary>
    /// A broken file's <see cref="CheckpointException"/> names the file; a file from another option than --model (the
    /// command's subject, whose messages stay as they are) gets that option said first, e.g. "--qra: Checkpoint 'c.safetensors': …".
    /// </summary>
    private static T Named<T>(string option, Func<T> load)
    {
        if (option == ModelOption) return load();
        try { return load(); }
        catch (CheckpointException e) { throw new ArgumentException($"{option}: {e.Message}", e); }
    }
}
