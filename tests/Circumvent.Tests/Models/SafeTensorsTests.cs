using System.Buffers.Binary;
using System.Text;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Models;

public class SafeTensorsTests : IDisposable
{
    private readonly SafeTensorsFiles _files = new();

    public void Dispose() => _files.Dispose();

    private static float[] AwkwardFloats() =>
        [1.5f, -0f, float.NaN, BitConverter.Int32BitsToSingle(0x7FC01234), float.PositiveInfinity, float.Epsilon, -3.25e-30f, 123456.79f];

    [Fact]
    public void WriteThenReadIsBitIdentical()
    {
        var path = _files.PathOf("a.safetensors");
        var floats = AwkwardFloats();
        var meta = new Dictionary<string, string> { ["note"] = "ünïcode \"quoted\"", ["empty"] = "" };
        SafeTensorsWriter.Write(path, [SafeTensor.FromFloats("w", [2, 4], floats), SafeTensor.FromInt64s("n", [], [long.MaxValue - 3])], meta);

        var content = SafeTensorsReader.Read(path);
        Assert.Equal(["w", "n"], content.Tensors.Select(t => t.Name));
        var w = content.Tensors[0];
        Assert.Equal(SafeTensorDType.F32, w.DType);
        Assert.Equal([2, 4], w.Shape);
        Assert.Equal(floats.Select(BitConverter.SingleToInt32Bits), w.Floats!.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal([long.MaxValue - 3], content.Tensors[1].Int64s!);
        Assert.Empty(content.Tensors[1].Shape);
        Assert.Equal(meta, content.Metadata);

        // Writing what was read reproduces the file byte for byte.
        var again = _files.PathOf("b.safetensors");
        SafeTensorsWriter.Write(again, content.Tensors, content.Metadata);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public void HeaderIsPaddedToEightBytes(int nameLength)
    {
        var path = _files.PathOf("p.safetensors");
        SafeTensorsWriter.Write(path, [SafeTensor.FromFloats(new string('x', nameLength), [3], [1f, 2f, 3f])]);
        var bytes = File.ReadAllBytes(path);
        var n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0ul, n % 8);
        Assert.Equal(8 + (long)n + 12, bytes.Length);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{", header);
        Assert.EndsWith("}", header.TrimEnd(' '));
    }

    [Fact]
    public void ReadsHalfBFloatAndDouble()
    {
        var data = new List<byte>();
        void Add(ReadOnlySpan<byte> b) => data.AddRange(b.ToArray());
        Span<byte> buf = stackalloc byte[8];
        foreach (var h in new[] { (Half)1.5f, (Half)(-0.099975586f) }) { BinaryPrimitives.WriteHalfLittleEndian(buf, h); Add(buf[..2]); }
        foreach (var f in new[] { 3.0f, -2.5f }) { BinaryPrimitives.WriteUInt16LittleEndian(buf, (ushort)(BitConverter.SingleToInt32Bits(f) >> 16)); Add(buf[..2]); }
        BinaryPrimitives.WriteDoubleLittleEndian(buf, 0.1); Add(buf);
        var header = """{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"d":{"dtype":"F64","shape":[],"data_offsets":[8,16]}}""";
        var content = SafeTensorsReader.Read(_files.Raw("m.safetensors", header, [.. data]));
        Assert.Equal([1.5f, (float)(Half)(-0.099975586f)], content.Tensors[0].Floats!);
        Assert.Equal(SafeTensorDType.F16, content.Tensors[0].DType);
        Assert.Equal([3.0f, -2.5f], content.Tensors[1].Floats!);
        Assert.Equal([0.1f], content.Tensors[2].Floats!);
    }

    [Fact]
    public void FileShorterThanLengthPrefix()
    {
        var path = _files.PathOf("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsReader.Read(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondFile()
    {
        var e = Read("""{}""", [], declaredLength: 1000);
        Assert.Contains("header length 1000", e.Message);
    }

    [Fact]
    public void TruncatedData()
    {
        // Declares 16 bytes, only 12 remain after the header.
        var e = Read("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", new byte[12]);
        Assert.Equal("w", e.TensorName);
        Assert.Contains("outside the 12-byte data buffer", e.Message);
    }

    [Theory]
    [InlineData("""{"w": {"dtype": "F32", """)]
    [InlineData("""not json""")]
    [InlineData("""[1, 2]""")]
    public void InvalidJson(string header) => Assert.Contains("JSON", Read(header, []).Message);

    [Fact]
    public void OverlappingOffsets()
    {
        var e = Read("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", new byte[12]);
        Assert.Contains("overlap", e.Message);
        Assert.Contains("'a'", e.Message);
        Assert.Equal("b", e.TensorName);
    }

    [Fact]
    public void GapInBuffer()
    {
        var e = Read("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]);
        Assert.Contains("bytes [0, 4)", e.Message);
    }

    [Fact]
    public void TrailingBytes()
    {
        var e = Read("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[8]);
        Assert.Contains("8 bytes", e.Message);
    }

    [Fact]
    public void ReversedOffsets()
    {
        var e = Read("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", new byte[4]);
        Assert.Equal("a", e.TensorName);
        Assert.Contains("[4, 0]", e.Message);
    }

    [Fact]
    public void ByteCountDisagreesWithShape()
    {
        var e = Read("""{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}""", new byte[20]);
        Assert.Equal("w", e.TensorName);
        Assert.Contains("needs 24 bytes", e.Message);
        Assert.Contains("hold 20", e.Message);
    }

    [Fact]
    public void UnknownDtype()
    {
        var e = Read("""{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", new byte[4]);
        Assert.Equal("w", e.TensorName);
        Assert.Contains("unsupported dtype 'F8_E4M3'", e.Message);
        Assert.Contains("BF16", e.Message);
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "non-negative")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "2 integers")]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", "dtype")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "twice")]
    [InlineData("""{"__metadata__":{"k":1},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "must be a string")]
    public void MalformedEntries(string header, string expected) =>
        Assert.Contains(expected, Read(header, new byte[8]).Message);

    [Fact]
    public void FailedWriteLeavesTargetUntouchedAndNoTempFile()
    {
        var path = _files.PathOf("model.safetensors");
        SafeTensorsWriter.Write(path, [SafeTensor.FromFloats("w", [2], [1f, 2f])]);
        var before = File.ReadAllBytes(path);

        // The data pass fails after the header and the first tensor have reached the temp file.
        var good = SafeTensor.FromFloats("a", [4096], new float[4096]);
        var failing = new ThrowingTensorList([good, SafeTensor.FromFloats("b", [1], [3f])], failAt: 1);
        Assert.ThrowsAny<InvalidOperationException>(() => SafeTensorsWriter.Write(path, failing));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], Directory.GetFiles(_files.Folder).Select(Path.GetFileName));
    }

    [Fact]
    public void WritingIntoMissingFolderIsACheckpointError()
    {
        var path = Path.Combine(_files.Folder, "no-such-folder", "m.safetensors");
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsWriter.Write(path, [SafeTensor.FromFloats("w", [1], [1f])]));
        Assert.Contains("cannot write", e.Message);
    }

    private CheckpointException Read(string header, byte[] data, ulong? declaredLength = null) =>
        Assert.Throws<CheckpointException>(() => SafeTensorsReader.Read(_files.Raw("bad.safetensors", header, data, declaredLength)));

    /// <summary>A tensor list whose element at <c>failAt</c> throws on the second enumeration (the data pass).</summary>
    private sealed class ThrowingTensorList(SafeTensor[] items, int failAt) : IReadOnlyList<SafeTensor>
    {
        private int _passes;
        public int Count => items.Length;
        public SafeTensor this[int index] => items[index];

        public IEnumerator<SafeTensor> GetEnumerator()
        {
            _passes++;
            for (int i = 0; i < items.Length; i++)
            {
                if (_passes > 1 && i == failAt) throw new InvalidOperationException("simulated failure while writing tensor data");
                yield return items[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
