namespace Circumvent.Data;

/// <summary>A dataset's training and test splits with its standard normalisation.</summary>
public sealed record DatasetPair(string Name, ImageDataset Train, ImageDataset Test, Normalization Normalization)
{
    public string[] ClassNames => Train.ClassNames;
    public int NumClasses => Train.NumClasses;
}
