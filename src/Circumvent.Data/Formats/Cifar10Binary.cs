namespace Circumvent.Data.Formats;

/// <summary>
/// The CIFAR-10 binary batches: records of 1 label byte followed by 3072 pixel bytes
/// (the 32×32 red plane, then green, then blue — already CHW). The official training set is
/// data_batch_1..5.bin (10000 records each), the test set test_batch.bin, and
/// batches.meta.txt lists the class names one per line.
/// </summary>
public static class Cifar10Binary
{
    public const int Channels = 3, Height = 32, Width = 32;
    public const int ImageBytes = Channels * Height * Width;
    public const int RecordBytes = 1 + ImageBytes;
    public const int NumClasses = 10;

    public static readonly string[] TrainFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    public const string TestFile = "test_batch.bin";
    public const string MetaFile = "batches.meta.txt";

    public static readonly string[] DefaultClassNames =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>Reads one batch file: CHW pixels (records·3072 bytes) and labels.</summary>
    public static (byte[] Pixels, int[] Labels) ReadBatch(string path)
    {
        using var file = FileBytes.OpenRead(path);
        return ParseBatch(path, file);
    }

    /// <summary>Parses one batch from a seekable stream; <paramref name="path"/> labels errors.</summary>
    public static (byte[] Pixels, int[] Labels) ParseBatch(string path, Stream file)
    {
        long length = file.Length;
        if (length == 0 || length % RecordBytes != 0)
            throw new DataFormatException(path, $"size {length} is not a positive multiple of the {RecordBytes}-byte CIFAR-10 record.");
        FileBytes.CheckPayloadSize(length, path, "CIFAR-10 records");

        int records = (int)(length / RecordBytes);
        var raw = GC.AllocateUninitializedArray<byte>((int)length);
        FileBytes.ReadExactly(file, raw, path, "CIFAR-10 records");

        var pixels = GC.AllocateUninitializedArray<byte>(records * ImageBytes);
        var labels = new int[records];
        for (int i = 0; i < records; i++)
        {
            int label = raw[i * RecordBytes];
            if (label >= NumClasses)
                throw new DataFormatException(path, $"record {i} has label {label}; CIFAR-10 labels are 0–{NumClasses - 1} (is this CIFAR-100 or another file?).");
            labels[i] = label;
            raw.AsSpan(i * RecordBytes + 1, ImageBytes).CopyTo(pixels.AsSpan(i * ImageBytes));
        }
        return (pixels, labels);
    }

    /// <summary>Reads several batch files into one dataset.</summary>
    public static ImageDataset ReadBatches(IReadOnlyList<string> paths, string[] classNames)
    {
        var parts = paths.Select(ReadBatch).ToList();
        var pixels = new byte[parts.Sum(p => (long)p.Pixels.Length)];
        var labels = new int[parts.Sum(p => p.Labels.Length)];
        int pixelOffset = 0, labelOffset = 0;
        foreach (var (p, l) in parts)
        {
            p.CopyTo(pixels, pixelOffset);
            l.CopyTo(labels, labelOffset);
            pixelOffset += p.Length;
            labelOffset += l.Length;
        }
        return new ImageDataset(pixels, labels, Channels, Height, Width, classNames);
    }

    /// <summary>Class names from batches.meta.txt (non-empty lines); exactly 10 are expected.</summary>
    public static string[] ReadClassNames(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(path, $"cannot be read ({e.Message}).", e);
        }
        var names = lines.Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != NumClasses)
            throw new DataFormatException(path, $"expected {NumClasses} class names (one per line), found {names.Length}.");
        return names;
    }

    /// <summary>
    /// Loads the official folder layout. The class names come from batches.meta.txt when present,
    /// otherwise the standard CIFAR-10 names are used.
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test) LoadFolder(string folder)
    {
        var classNames = CheckFolder(folder, [.. TrainFiles, TestFile]);
        var train = ReadBatches(TrainFiles.Select(f => Path.Combine(folder, f)).ToList(), classNames);
        var test = ReadBatches([Path.Combine(folder, TestFile)], classNames);
        return (train, test);
    }

    /// <summary>The test split alone (test_batch.bin), for commands that only score: the training batches may be absent.</summary>
    public static ImageDataset LoadTest(string folder)
    {
        var classNames = CheckFolder(folder, [TestFile]);
        return ReadBatches([Path.Combine(folder, TestFile)], classNames);
    }

    /// <summary>The class names, after checking that <paramref name="files"/> are all in <paramref name="folder"/>.</summary>
    private static string[] CheckFolder(string folder, string[] files)
    {
        if (!Directory.Exists(folder))
            throw new DataFormatException(folder, $"CIFAR-10 folder not found (expected {string.Join(", ", files)} in '{folder}').");
        var missing = files.Where(f => !File.Exists(Path.Combine(folder, f))).ToList();
        if (missing.Count > 0)
            throw new DataFormatException(folder, $"CIFAR-10 folder '{folder}' lacks {string.Join(", ", missing)}.");
        string metaPath = Path.Combine(folder, MetaFile);
        return File.Exists(metaPath) ? ReadClassNames(metaPath) : DefaultClassNames.ToArray();
    }
}
