using Circumvent.Data.Loading;

namespace Circumvent.Data;

/// <summary>
/// A dataset's training and test splits with its standard normalisation and its training augmentation:
/// what "augment" means is the dataset's to say (a mirrored digit or traffic sign is another symbol).
/// </summary>
public sealed record DatasetPair(string Name, ImageDataset Train, ImageDataset Test, Normalization Normalization, Augmentation Augmentation)
{
    public string[] ClassNames => Train.ClassNames;
    public int NumClasses => Train.NumClasses;
}
