using Circumvent.Data.Loading;

namespace Circumvent.Data;

/// <summary>
/// One dataset the command line can name (KIND in --data KIND[:PATH]): how its folder is read and its defaults.
/// Everything that depends on the kind lives here, so a new dataset is one entry in <see cref="KnownDatasets.All"/>.
/// </summary>
/// <param name="Name">The KIND as typed, lower case.</param>
/// <param name="Read">Both splits from a folder; throws <see cref="DataFormatException"/> for missing or malformed files.</param>
/// <param name="ReadTest">The test split alone, for commands that only score (the training files may be absent).</param>
/// <param name="NormalizationOf">
/// The standard input normalisation, given the split just read (the training split, or the test split when only it
/// was read); a dataset with published statistics ignores the split.
/// </param>
/// <param name="MirrorKeepsClass">
/// Whether a horizontally mirrored image keeps its class: photos and clothing do, digits and traffic signs do not
/// (a mirrored 7 is no digit; a mirrored "keep right" sign means "keep left").
/// </param>
/// <param name="SystemPath">Where the dataset is found when no PATH is given and $CIRCUMVENT_DATA_DIR has none.</param>
public sealed record DatasetKind(
    string Name,
    Func<string, (ImageDataset Train, ImageDataset Test)> Read,
    Func<string, ImageDataset> ReadTest,
    Func<ImageDataset, Normalization> NormalizationOf,
    bool MirrorKeepsClass,
    string? SystemPath = null)
{
    public DatasetPair Load(string folder)
    {
        var (train, test) = Read(folder);
        return new DatasetPair(Name, train, test, NormalizationOf(train), AugmentationFor(train.Height));
    }

    public (ImageDataset Test, Normalization Normalization) LoadTest(string folder)
    {
        var test = ReadTest(folder);
        return (test, NormalizationOf(test));
    }

    /// <summary>
    /// The training augmentation: a random crop with H/8 zero padding (4 for 32×32, 3 for 28×28), plus a horizontal
    /// flip only when <see cref="MirrorKeepsClass"/>.
    /// </summary>
    public Augmentation AugmentationFor(int height) =>
        MirrorKeepsClass ? Augmentation.CropAndFlip(height / 8) : Augmentation.Crop(height / 8);
}
