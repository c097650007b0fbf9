using System.IO.Compression;
using Circumvent.Data;
using Circumvent.Data.Formats;
using Circumvent.Models.Checkpoints;
using Circumvent.Models.Checkpoints.PyTorch;
using Circumvent.Models.Described;
using Circumvent.Tests.Models.Described;
using Circumvent.Tests.Models.PyTorch;
using Circumvent.Tests.Support;
using Xunit.Abstractions;

namespace Circumvent.Tests.Fuzzing;

/// <summary>
/// Every file reader takes <see cref="MutationFuzzer.Iterations"/> mutated inputs built from small valid
/// files and lets only its typed error escape: CheckpointException for checkpoints, DataFormatException
/// for data files, DescriptionException for model descriptions. Each test also checks the mutations were not all trivially rejected (some inputs must
/// still parse), so the fuzzing reaches past the first header check.
/// </summary>
public class ReaderFuzzTests(ITestOutputHelper output)
{
    private static bool IsCheckpointError(Exception e) => e is CheckpointException;
    private static bool IsDataError(Exception e) => e is DataFormatException;
    private static bool IsDescriptionError(Exception e) => e is DescriptionException;

    private void Check(string reader, MutationFuzzer.Report report)
    {
        output.WriteLine($"{reader}: {report.Iterations} inputs, {report.CpuSeconds:F1} s CPU ({report.Elapsed.TotalSeconds:F1} s wall), " +
                         $"{report.Accepted} parsed, {report.Rejected} rejected with the typed error");
        Assert.Equal(report.Iterations, report.Accepted + report.Rejected);
        Assert.True(report.Accepted > 0, $"{reader}: no mutated input parsed; the mutations never get past the first check.");
        Assert.True(report.Rejected > report.Iterations / 10, $"{reader}: only {report.Rejected} inputs rejected; the mutations are too mild.");
    }

    [Fact]
    public void SafeTensors()
    {
        var path = Scratch.NewFilePath("fuzz-", ".safetensors");
        SafeTensorsWriter.Write(path,
            [SafeTensor.FromFloats("a.weight", [2, 3], [1, 2, 3, 4, 5, 6]), SafeTensor.FromInt64s("a.num_batches_tracked", [], [7])],
            new Dictionary<string, string> { ["k"] = "v" });
        var seed = File.ReadAllBytes(path);
        File.Delete(path);
        Check("safetensors", MutationFuzzer.Run(1, [seed], bytes => SafeTensorsReader.Parse("fuzz.safetensors", bytes), IsCheckpointError));
    }

    [Fact]
    public void PyTorchZip()
    {
        var seed = SmallPth();
        Check(".pth (whole file)", MutationFuzzer.Run(2, [seed], bytes => PyTorchCheckpointReader.Parse("fuzz.pth", new MemoryStream(bytes)), IsCheckpointError));
    }

    [Fact]
    public void PyTorchPickle()
    {
        // The zip's CRCs catch most whole-file mutations of data.pkl, so the pickle is fuzzed on its own, storages from memory.
        var pickle = ReadEntry(SmallPth(), "archive/data.pkl");
        var storages = new Dictionary<string, byte[]> { ["0"] = PthBuilder.Floats(1, 2, 3, 4, 5, 6), ["1"] = BitConverter.GetBytes(7L) };
        var strided = PthBuilder.OneTensorPickle(6, 1, [2, 2], [1, 3]);
        Check(".pth (data.pkl)", MutationFuzzer.Run(3, [pickle, strided],
            bytes => PyTorchCheckpointReader.Decode("fuzz.pth", bytes, (key, tensor, expected) =>
                storages.TryGetValue(key, out var b) && b.Length == expected ? b : throw new CheckpointException("fuzz.pth", $"no storage '{key}' of {expected} bytes", tensor)),
            IsCheckpointError));
    }

    [Fact]
    public void IdxPlainAndGzipped()
    {
        var folder = TempFiles();
        var plain = Path.Combine(folder, "images-idx3-ubyte");
        var gzipped = Path.Combine(folder, "images-idx3-ubyte.gz");
        Idx.Write(plain, [3, 4, 4], new byte[48]);
        Idx.Write(gzipped, [3, 4, 4], Enumerable.Range(0, 48).Select(i => (byte)i).ToArray(), gzip: true);
        byte[][] seeds = [File.ReadAllBytes(plain), File.ReadAllBytes(gzipped)];
        Directory.Delete(folder, true);
        Check("IDX", MutationFuzzer.Run(4, seeds, bytes => Idx.Parse("fuzz-idx", new MemoryStream(bytes), Idx.ImagesMagic, "IDX images"), IsDataError));
    }

    [Fact]
    public void Cifar10Batch()
    {
        var seed = new byte[2 * Cifar10Binary.RecordBytes];
        seed[0] = 3;
        seed[Cifar10Binary.RecordBytes] = 9;
        Check("CIFAR-10 binary", MutationFuzzer.Run(5, [seed], bytes => Cifar10Binary.ParseBatch("fuzz.bin", new MemoryStream(bytes)), IsDataError));
    }

    [Fact]
    public void PpmAndPgm()
    {
        var folder = TempFiles();
        var ppm = Path.Combine(folder, "a.ppm");
        var pgm = Path.Combine(folder, "a.pgm");
        Netpbm.Write(ppm, 3, 3, 4, Enumerable.Range(0, 36).Select(i => (byte)(7 * i)).ToArray(), comment: "seed");
        Netpbm.Write(pgm, 1, 2, 5, new byte[10]);
        byte[][] seeds = [File.ReadAllBytes(ppm), File.ReadAllBytes(pgm), "P5\n2 2\n15\n\x01\x02\x03\x0f"u8.ToArray()];
        Directory.Delete(folder, true);
        Check("PPM/PGM", MutationFuzzer.Run(6, seeds, bytes => Netpbm.Parse("fuzz.ppm", bytes), IsDataError));
    }

    [Fact]
    public void NpyFiles()
    {
        var folder = TempFiles();
        var f32 = Path.Combine(folder, "a.npy");
        var u8 = Path.Combine(folder, "b.npy");
        var i64 = Path.Combine(folder, "c.npy");
        Npy.Write(f32, [2, 3], new float[] { 1, 2, 3, 4, 5, 6 });
        Npy.Write(u8, [4], new byte[] { 1, 2, 3, 4 });
        Npy.Write(i64, [2, 1], new long[] { -5, 5 });
        byte[][] seeds = [File.ReadAllBytes(f32), File.ReadAllBytes(u8), File.ReadAllBytes(i64)];
        Directory.Delete(folder, true);
        Check(".npy", MutationFuzzer.Run(7, seeds, bytes => Npy.Parse("fuzz.npy", new MemoryStream(bytes)), IsDataError));
    }

    [Fact]
    public void DescriptionJson()
    {
        // The committed fixture (pretty-printed, with a residual block) and compact test descriptions.
        byte[][] seeds =
        [
            File.ReadAllBytes(TestData.FixturePath("described", "custom_cnn.json")),
            .. new[] { "plain-cnn", "mlp", "tiny-resnet" }.Select(name => System.Text.Encoding.UTF8.GetBytes(TestDescriptions.Json(name))),
        ];
        Check("description (JSON)", MutationFuzzer.Run(8, seeds,
            bytes => DescriptionParser.ParseJson(System.Text.Encoding.UTF8.GetString(bytes), "fuzz.json"), IsDescriptionError));
    }

    [Fact]
    public void DescriptionYaml()
    {
        byte[][] seeds = [System.Text.Encoding.UTF8.GetBytes(YamlResidualNet), System.Text.Encoding.UTF8.GetBytes(YamlFlowStyle)];
        Check("description (YAML)", MutationFuzzer.Run(9, seeds,
            bytes => DescriptionParser.ParseYaml(System.Text.Encoding.UTF8.GetString(bytes), "fuzz.yaml"), IsDescriptionError));
    }

    /// <summary>Block style: nested mappings and sequences, a residual block with a projection shortcut, comments, a quoted name.</summary>
    private const string YamlResidualNet = """
        # a small residual network
        name: "yaml-resnet"
        input: [3, 8, 8]
        classes: 4
        layers:
          - type: conv2d
            name: stem
            in_channels: 3
            out_channels: 4
            kernel_size: 3
            padding: 1
            bias: false
          - type: batchnorm2d
            name: stem_bn
            num_features: 4
          - type: relu
          - type: residual
            activation: relu
            body:
              - {type: conv2d, name: b.conv1, in_channels: 4, out_channels: 6, kernel_size: 3, stride: 2, padding: 1}
              - {type: batchnorm2d, name: b.bn1, num_features: 6}
            shortcut:
              - {type: conv2d, name: b.short, in_channels: 4, out_channels: 6, kernel_size: 1, stride: 2}
          - type: avgpool2d
            kernel_size: 2
          - type: flatten
          - type: dropout
            p: 0.5
          - type: linear
            name: head
            in_features: 24
            out_features: 4
          - type: softmax
            dim: 1
        """;

    /// <summary>Flow style throughout, with leaky ReLU's slope, batchnorm1d and adaptive pooling.</summary>
    private const string YamlFlowStyle = """
        {name: flow, input: [1, 6, 6], classes: 3, layers: [
          {type: conv2d, name: c, in_channels: 1, out_channels: 2, kernel_size: 3},
          {type: leaky_relu, negative_slope: 0.2},
          {type: adaptive_avgpool2d, output_size: [2, 2]},
          {type: flatten},
          {type: linear, name: fc1, in_features: 8, out_features: 5},
          {type: batchnorm1d, name: bn, num_features: 5, eps: 0.00001, affine: true},
          {type: tanh},
          {type: linear, name: fc2, in_features: 5, out_features: 3}]}
        """;

    private static byte[] SmallPth()
    {
        var path = Scratch.NewFilePath("fuzz-", ".pth");
        PyTorchCheckpointWriter.Write(path,
            [SafeTensor.FromFloats("a.weight", [2, 3], [1, 2, 3, 4, 5, 6]), SafeTensor.FromInt64s("a.num_batches_tracked", [], [7])]);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    private static byte[] ReadEntry(byte[] zipBytes, string name)
    {
        using var zip = new ZipArchive(new MemoryStream(zipBytes), ZipArchiveMode.Read);
        using var stream = zip.GetEntry(name)!.Open();
        var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static string TempFiles()
    {
        var folder = Scratch.NewFilePath("fuzz-", "");
        Directory.CreateDirectory(folder);
        return folder;
    }
}
