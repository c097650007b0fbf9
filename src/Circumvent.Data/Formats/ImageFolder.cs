using Circumvent.Engine.Kernels;

namespace Circumvent.Data.Formats;

/// <summary>
/// torchvision's ImageFolder layout with one folder per split: ROOT/train/CLASS/… and ROOT/test/CLASS/…, holding
/// any image <see cref="ImageFiles"/> decodes (PNG, JPEG, PPM/PGM), in sub-folders of a class folder too.
/// Label k is the k-th class folder in ordinal name order (as torchvision sorts them); the class names are the
/// folder names, and both splits must have the same class folders. Hidden files (.DS_Store) are skipped; any
/// other file that is no image is an error, so nothing a user put there is silently left out.
/// Every image must have the same size: nothing is resized. A greyscale file among colour ones is repeated over
/// three channels; a split of greyscale files only stays one-channel.
/// </summary>
public static class ImageFolder
{
    public const string TrainSplit = "train", TestSplit = "test";

    private static string Layout(string root) =>
        $"expected {Path.Combine(root, TrainSplit, "CLASS", "*.png")} (or .jpg) and the same under {Path.Combine(root, TestSplit)}";

    /// <summary>Both splits, on one class list and one image size.</summary>
    /// <param name="nameClasses">
    /// Turns the sorted class folder names into class names, checked before any image is read (a named dataset's
    /// own names and class count); null keeps the folder names.
    /// </param>
    public static (ImageDataset Train, ImageDataset Test) Load(string root, Func<string[], string[]>? nameClasses = null)
    {
        var folders = ClassFolders(root, TrainSplit, TestSplit);
        var classes = nameClasses?.Invoke(folders) ?? folders;
        var train = ReadSplit(Path.Combine(root, TrainSplit), folders, classes, reference: null);
        var test = ReadSplit(Path.Combine(root, TestSplit), folders, classes, reference: train);
        // One split may be all greyscale where the other has colour: both become three-channel.
        return train.Channels == test.Channels ? (train, test) : (ToRgb(train), ToRgb(test));
    }

    /// <summary>
    /// The test split alone, for commands that only score; when a train/ folder is there too its class folders
    /// must still match, so the labels mean what they meant in training.
    /// </summary>
    public static ImageDataset LoadTest(string root, Func<string[], string[]>? nameClasses = null)
    {
        var folders = Directory.Exists(Path.Combine(root, TrainSplit)) ? ClassFolders(root, TrainSplit, TestSplit) : ClassFolders(root, TestSplit);
        return ReadSplit(Path.Combine(root, TestSplit), folders, nameClasses?.Invoke(folders) ?? folders, reference: null);
    }

    /// <summary>The class folder names, sorted ordinally, after checking each split exists and all have the same ones.</summary>
    private static string[] ClassFolders(string root, params string[] splits)
    {
        if (!Directory.Exists(root))
            throw DataFormatException.AtPath(root, $"image folder not found ({Layout(root)}).");
        string[]? first = null;
        foreach (var split in splits)
        {
            string folder = Path.Combine(root, split);
            if (!Directory.Exists(folder))
                throw DataFormatException.AtPath(folder, $"split folder missing ({Layout(root)}).");
            var stray = Visible(Directory.EnumerateFiles(folder)).Order(StringComparer.Ordinal).FirstOrDefault();
            if (stray is not null)
                throw DataFormatException.AtPath(stray, $"is a file directly in {split}/; images go in one folder per class, {split}/CLASS/{Path.GetFileName(stray)}.");
            var classes = Visible(Directory.EnumerateDirectories(folder)).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
            if (classes.Length == 0)
                throw DataFormatException.AtPath(folder, $"holds no class folders ({Layout(root)}).");
            if (first is null)
            {
                first = classes;
                continue;
            }
            if (!classes.SequenceEqual(first))
                throw DataFormatException.AtPath(root, $"{splits[0]}/ and {split}/ have different class folders ({Difference(splits[0], first, split, classes)}); " +
                    "labels are positions in the sorted folder list, so both splits need the same ones.");
        }
        return first!;
    }

    private static string Difference(string nameA, string[] a, string nameB, string[] b)
    {
        static string List(IEnumerable<string> names) => string.Join(", ", names.Take(5)) + (names.Count() > 5 ? ", …" : "");
        var onlyA = a.Except(b, StringComparer.Ordinal).ToArray();
        var onlyB = b.Except(a, StringComparer.Ordinal).ToArray();
        return string.Join("; ", new[] { onlyA.Length > 0 ? $"only in {nameA}/: {List(onlyA)}" : null, onlyB.Length > 0 ? $"only in {nameB}/: {List(onlyB)}" : null }.OfType<string>());
    }

    private static IEnumerable<string> Visible(IEnumerable<string> paths) => paths.Where(p => !Path.GetFileName(p).StartsWith('.'));

    /// <summary>
    /// Every image of one split, decoded in parallel into one buffer, in class order and, within a class, in ordinal
    /// order of the path. <paramref name="reference"/> (the training split) fixes the image size when given.
    /// </summary>
    private static ImageDataset ReadSplit(string folder, string[] classFolders, string[] classNames, ImageDataset? reference)
    {
        var (files, labels) = ListImages(folder, classFolders);
        var first = Decode(files[0]);
        int height = reference?.Height ?? first.Height, width = reference?.Width ?? first.Width;
        string sizeSource = reference is null ? $"like {files[0]}" : "like the training images";
        int plane = height * width;

        // Decoded straight into a three-channel buffer (a greyscale image's plane repeated), kept whole when any image
        // is in colour, else cut down to its first plane.
        var pixels = GC.AllocateUninitializedArray<byte>(checked(files.Length * 3 * plane));
        var grey = new bool[files.Length];
        var errors = new DataFormatException?[files.Length];
        Parallel.For(0, files.Length, Parallelism.Options, i =>
        {
            try
            {
                var image = i == 0 ? first : Decode(files[i]);
                if (image.Height != height || image.Width != width)
                    throw DataFormatException.AtPath(files[i], $"image of {image.Width}×{image.Height} pixels; expected {width}×{height} {sizeSource} (images are not resized; give all the same size).");
                var slot = pixels.AsSpan(i * 3 * plane, 3 * plane);
                grey[i] = image.Channels == 1;
                for (int c = 0; c < 3; c++) image.Pixels.AsSpan(grey[i] ? 0 : c * plane, plane).CopyTo(slot.Slice(c * plane, plane));
            }
            catch (DataFormatException e)
            {
                errors[i] = e;
            }
        });
        // The first bad file in listing order, whatever order the threads met them in.
        var error = errors.FirstOrDefault(e => e is not null);
        if (error is not null) throw error;

        if (!grey.All(g => g)) return new ImageDataset(pixels, labels, 3, height, width, classNames);
        var planes = GC.AllocateUninitializedArray<byte>(files.Length * plane);
        for (int i = 0; i < files.Length; i++) pixels.AsSpan(i * 3 * plane, plane).CopyTo(planes.AsSpan(i * plane));
        return new ImageDataset(planes, labels, 1, height, width, classNames);
    }

    /// <summary>The image files of every class folder (label = class index), refusing empty classes and non-image files.</summary>
    private static (string[] Files, int[] Labels) ListImages(string folder, string[] classes)
    {
        var files = new List<string>();
        var labels = new List<int>();
        for (int k = 0; k < classes.Length; k++)
        {
            string classFolder = Path.Combine(folder, classes[k]);
            var members = Directory.EnumerateFiles(classFolder, "*", SearchOption.AllDirectories)
                .Where(p => !Path.GetRelativePath(classFolder, p).Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.')))
                .Order(StringComparer.Ordinal).ToList();
            if (members.Count == 0)
                throw DataFormatException.AtPath(classFolder, "class folder holds no images; remove it or add its images.");
            var notImage = members.FirstOrDefault(p => !ImageFiles.IsImage(p));
            if (notImage is not null)
                throw DataFormatException.AtPath(notImage, $"not an image file; a class folder may hold only {string.Join(", ", ImageFiles.Extensions)} files.");
            files.AddRange(members);
            labels.AddRange(Enumerable.Repeat(k, members.Count));
        }
        return (files.ToArray(), labels.ToArray());
    }

    private static PlanarImage Decode(string path)
    {
        try
        {
            return ImageFiles.Read(path);
        }
        catch (DataFormatException e)
        {
            throw DataFormatException.AtPath(path, e.Problem, e);
        }
    }

    /// <summary>A one-channel dataset with its plane repeated three times; a three-channel one as it is.</summary>
    private static ImageDataset ToRgb(ImageDataset dataset)
    {
        if (dataset.Channels == 3) return dataset;
        int plane = dataset.Height * dataset.Width;
        var pixels = GC.AllocateUninitializedArray<byte>(checked(dataset.Count * 3 * plane));
        for (int i = 0; i < dataset.Count; i++)
            for (int c = 0; c < 3; c++) dataset.Image(i).CopyTo(pixels.AsSpan((i * 3 + c) * plane, plane));
        return new ImageDataset(pixels, dataset.Labels, 3, dataset.Height, dataset.Width, dataset.ClassNames);
    }
}
