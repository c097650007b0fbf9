namespace Circumvent.Data.Formats;

/// <summary>
/// The MNIST folder layout (MNIST, Fashion-MNIST): train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…, each
/// either plain or with a .gz suffix.
/// </summary>
public static class MnistFolder
{
    public static (ImageDataset Train, ImageDataset Test) Load(string name, string folder, string[] classNames)
    {
        CheckFolder(name, folder, "train-images-idx3-ubyte[.gz] and friends");
        return (ReadIdxPair(folder, "train", classNames), ReadIdxPair(folder, "t10k", classNames));
    }

    /// <summary>The test split alone (t10k-…), for commands that only score: the training files may be absent.</summary>
    public static ImageDataset LoadTest(string name, string folder, string[] classNames)
    {
        CheckFolder(name, folder, "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]");
        return ReadIdxPair(folder, "t10k", classNames);
    }

    private static void CheckFolder(string name, string folder, string expected)
    {
        if (!Directory.Exists(folder))
            throw new DataFormatException(folder, $"{name} folder not found (expected {expected} in '{folder}').");
    }

    private static ImageDataset ReadIdxPair(string folder, string split, string[] classNames)
    {
        string imagesPath = FindIdx(folder, $"{split}-images-idx3-ubyte");
        string labelsPath = FindIdx(folder, $"{split}-labels-idx1-ubyte");
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath);
        if (labels.Length != images.Count)
            throw new DataFormatException(labelsPath, $"holds {labels.Length} labels but {Path.GetFileName(imagesPath)} holds {images.Count} images.");
        int bad = Array.FindIndex(labels, l => l >= classNames.Length);
        if (bad >= 0)
            throw new DataFormatException(labelsPath, $"label {labels[bad]} at index {bad} is outside 0–{classNames.Length - 1}.");
        return new ImageDataset(images.Pixels, labels, 1, images.Height, images.Width, classNames);
    }

    private static string FindIdx(string folder, string baseName)
    {
        foreach (var candidate in new[] { baseName, baseName + ".gz" })
        {
            string path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        throw new DataFormatException(Path.Combine(folder, baseName), $"not found (looked for {baseName} and {baseName}.gz in '{folder}').");
    }
}
