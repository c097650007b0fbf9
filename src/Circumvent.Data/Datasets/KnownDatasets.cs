using Circumvent.Data.Formats;
using Circumvent.Data.Loading;

namespace Circumvent.Data;

/// <summary>Loaders for the standard folder layouts of the datasets <see cref="DatasetSpec"/> knows.</summary>
public static class KnownDatasets
{
    public static readonly string[] FashionMnistClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static readonly string[] MnistClassNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public static DatasetPair LoadCifar10(string folder)
    {
        var (train, test) = Cifar10Binary.LoadFolder(folder);
        return new DatasetPair("cifar10", train, test, Normalization.Cifar10, DefaultAugmentation("cifar10"));
    }

    public static DatasetPair LoadFashionMnist(string folder) =>
        LoadMnistLayout("fashion-mnist", folder, FashionMnistClassNames, Normalization.FashionMnist, DefaultAugmentation("fashion-mnist"));

    public static DatasetPair LoadMnist(string folder) =>
        LoadMnistLayout("mnist", folder, MnistClassNames, Normalization.Mnist, DefaultAugmentation("mnist"));

    /// <summary>
    /// A dataset's training augmentation: random crop with H/8 zero padding (4 for 32×32, 3 for 28×28), plus a
    /// horizontal flip only where a mirror image keeps its class — photos (CIFAR-10) and clothing (Fashion-MNIST,
    /// whose classes are left-right symmetric), not digits (a mirrored 2 or 7 is no digit; the same would hold
    /// for traffic signs and text).
    /// </summary>
    public static Augmentation DefaultAugmentation(string kind) => kind switch
    {
        "cifar10" => Augmentation.CropAndFlip(4),
        "fashion-mnist" => Augmentation.CropAndFlip(3),
        "mnist" => Augmentation.Crop(3),
        _ => throw new ArgumentException($"No augmentation is known for dataset kind '{kind}'."),
    };

    /// <summary>
    /// The MNIST file names (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…), each
    /// either plain or with a .gz suffix.
    /// </summary>
    public static DatasetPair LoadMnistLayout(string name, string folder, string[] classNames, Normalization normalization, Augmentation augmentation)
    {
        CheckMnistFolder(name, folder, "train-images-idx3-ubyte[.gz] and friends");
        var train = ReadIdxPair(folder, "train", classNames);
        var test = ReadIdxPair(folder, "t10k", classNames);
        return new DatasetPair(name, train, test, normalization, augmentation);
    }

    /// <summary>The test split alone (t10k-…), for commands that only score: the training files may be absent.</summary>
    public static ImageDataset LoadMnistLayoutTest(string name, string folder, string[] classNames)
    {
        CheckMnistFolder(name, folder, "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]");
        return ReadIdxPair(folder, "t10k", classNames);
    }

    private static void CheckMnistFolder(string name, string folder, string expected)
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
