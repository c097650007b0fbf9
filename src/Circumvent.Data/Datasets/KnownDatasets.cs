using Circumvent.Data.Formats;

namespace Circumvent.Data;

/// <summary>The datasets <see cref="DatasetSpec"/> knows, as data: each entry says how its folder is read and its defaults.</summary>
public static class KnownDatasets
{
    public static readonly string[] FashionMnistClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static readonly string[] MnistClassNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public static DatasetKind Cifar10 { get; } = new("cifar10", Cifar10Binary.LoadFolder, Cifar10Binary.LoadTest,
        _ => Normalization.Cifar10, MirrorKeepsClass: true);

    public static DatasetKind FashionMnist { get; } = new("fashion-mnist",
        folder => MnistFolder.Load("fashion-mnist", folder, FashionMnistClassNames),
        folder => MnistFolder.LoadTest("fashion-mnist", folder, FashionMnistClassNames),
        _ => Normalization.FashionMnist, MirrorKeepsClass: true, SystemPath: DatasetSpec.FashionMnistSystemPath);

    public static DatasetKind Mnist { get; } = new("mnist",
        folder => MnistFolder.Load("mnist", folder, MnistClassNames),
        folder => MnistFolder.LoadTest("mnist", folder, MnistClassNames),
        _ => Normalization.Mnist, MirrorKeepsClass: false);

    public static DatasetKind Gtsrb { get; } = new("gtsrb", GtsrbFolder.Load, GtsrbFolder.LoadTest,
        _ => Normalization.Gtsrb, MirrorKeepsClass: false);

    /// <summary>
    /// Any folder of images (<see cref="ImageFolder"/>). Its normalisation is measured on the split read: per-channel
    /// mean and std of the training split, or of the test split when a scoring command reads only that. No flips,
    /// since a user's classes may not survive mirroring (text, signs, digits); --no-augment turns the crop off too.
    /// </summary>
    public static DatasetKind AnyImageFolder { get; } = new("imagefolder", root => ImageFolder.Load(root), root => ImageFolder.LoadTest(root),
        Normalization.Measure, MirrorKeepsClass: false);

    public static IReadOnlyList<DatasetKind> All { get; } = [Cifar10, FashionMnist, Mnist, Gtsrb, AnyImageFolder];

    /// <summary>The kind named <paramref name="name"/> (lower case), or null.</summary>
    public static DatasetKind? Find(string name) => All.FirstOrDefault(k => k.Name == name);
}
