namespace Circumvent.Data.Formats;

/// <summary>
/// GTSRB (the German Traffic Sign Recognition Benchmark) as an <see cref="ImageFolder"/> tree: class folders
/// 00000 … 00042 in train/ and test/, the folder name being the class id, and optionally classes.txt beside them
/// naming the classes in id order, one "00014 Stop" a line. Without classes.txt the folder names are the names.
/// </summary>
public static class GtsrbFolder
{
    public const int NumClasses = 43;
    public const string ClassesFile = "classes.txt";

    public static (ImageDataset Train, ImageDataset Test) Load(string root) => ImageFolder.Load(root, folders => ClassNames(root, folders));

    public static ImageDataset LoadTest(string root) => ImageFolder.LoadTest(root, folders => ClassNames(root, folders));

    /// <summary>The 43 class names, after checking the class folders are exactly 00000 … 00042.</summary>
    private static string[] ClassNames(string root, string[] folders)
    {
        var expected = Enumerable.Range(0, NumClasses).Select(Id).ToArray();
        if (!folders.SequenceEqual(expected))
            throw DataFormatException.AtPath(root, $"GTSRB needs {NumClasses} class folders {expected[0]} … {expected[^1]} in train/ and test/, " +
                $"found {folders.Length} ({string.Join(", ", folders.Take(3))}{(folders.Length > 3 ? ", …" : "")}); for other classes use imagefolder:{root}.");
        string path = Path.Combine(root, ClassesFile);
        if (!File.Exists(path)) return folders;
        var lines = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (lines.Length != NumClasses)
            throw DataFormatException.AtPath(path, $"expected {NumClasses} lines \"ID NAME\" (e.g. \"00014 Stop\"), found {lines.Length}.");
        var names = new string[NumClasses];
        for (int k = 0; k < NumClasses; k++)
        {
            int space = lines[k].IndexOf(' ');
            if (space < 0 || lines[k][..space] != expected[k])
                throw DataFormatException.AtPath(path, $"line {k + 1} must be \"{expected[k]} NAME\" (ids in order), found \"{lines[k]}\".");
            names[k] = lines[k][(space + 1)..].Trim();
        }
        return names;
    }

    private static string Id(int classIndex) => classIndex.ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
}
