using Circumvent.Data;
using Circumvent.Models;

namespace Circumvent.Method.Pipelines;

/// <summary>Whether a network takes a dataset's images and predicts its classes, checked before any long work.</summary>
public static class ArchitectureFit
{
    /// <param name="subject">Names the network in the message, e.g. "--model 'm.safetensors'" or "--description 'my-net'".</param>
    /// <param name="test">The dataset's test split (any split: they share image shape and classes).</param>
    /// <exception cref="ArgumentException">The image shape (C×H×W) or the class count differs.</exception>
    /// <param name="checkClasses">False for an encoder, whose classes are its pre-training set's and matter to nothing downstream.</param>
    public static void Check(string subject, ArchitectureConfig arch, string datasetName, ImageDataset test, bool checkClasses = true)
    {
        if (test.Channels != arch.InChannels || test.Height != arch.Height || test.Width != arch.Width)
            throw new ArgumentException(
                $"{subject} expects {arch.InChannels}×{arch.Height}×{arch.Width} images but {datasetName} has {test.Channels}×{test.Height}×{test.Width}.");
        if (checkClasses && test.NumClasses != arch.Classes)
            throw new ArgumentException($"{subject} has {arch.Classes} classes but {datasetName} has {test.NumClasses}.");
    }
}
