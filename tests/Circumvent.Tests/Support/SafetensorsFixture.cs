using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Circumvent.Engine;

namespace Circumvent.Tests.Support;

/// <summary>
/// Test-side reader for the PyTorch fixtures in Fixtures/ (F32 and I64 only). Deliberately
/// independent of the product's safetensors reader, which some parity tests check.
/// Layout: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}, "__metadata__"}, data.
/// </summary>
public sealed class SafetensorsFixture
{
    private sealed record Entry(string DType, int[] Shape, long Begin, long End);

    private readonly byte[] _bytes;
    private readonly long _dataStart;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public string FilePath { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IEnumerable<string> Names => _entries.Keys;

    private SafetensorsFixture(string path)
    {
        FilePath = path;
        _bytes = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(_bytes);
        _dataStart = 8 + headerLength;
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(_bytes, 8, (int)headerLength));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                foreach (var m in prop.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString()!;
                continue;
            }
            var shape = prop.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var offsets = prop.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            _entries[prop.Name] = new Entry(prop.Value.GetProperty("dtype").GetString()!, shape, offsets[0], offsets[1]);
        }
        Metadata = metadata;
    }

    /// <summary>Loads Fixtures/<paramref name="fileName"/> from the test output folder.</summary>
    public static SafetensorsFixture Load(string fileName)
    {
        var path = TestData.FixturePath(fileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Fixture {fileName} not found at {path}; regenerate with `python3 tools/fixtures/make_fixtures.py`.", path);
        return new SafetensorsFixture(path);
    }

    /// <summary>Reads any safetensors file by full path (e.g. one our writer produced).</summary>
    public static SafetensorsFixture LoadPath(string path) => new(path);

    public bool Contains(string name) => _entries.ContainsKey(name);

    public int[] ShapeOf(string name) => Get(name).Shape.ToArray();

    /// <summary>A fresh, unpooled float32 tensor (optionally a gradient-requiring leaf).</summary>
    public Tensor F32(string name, bool requiresGrad = false)
    {
        var e = Get(name, "F32");
        var values = new float[Shape.Size(e.Shape)];
        var span = _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(4 * i)..]);
        return new Tensor(e.Shape.ToArray(), values, requiresGrad);
    }

    public long[] I64(string name)
    {
        var e = Get(name, "I64");
        var span = _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
        var values = new long[span.Length / 8];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(span[(8 * i)..]);
        return values;
    }

    /// <summary>Class labels stored as I64, as int[].</summary>
    public int[] Labels(string name) => I64(name).Select(v => checked((int)v)).ToArray();

    /// <summary>Op parameters of one case, from the JSON in metadata "cases".</summary>
    public JsonElement Case(string caseName)
    {
        using var doc = JsonDocument.Parse(Metadata["cases"]);
        return doc.RootElement.GetProperty(caseName).Clone();
    }

    public IEnumerable<string> CaseNames()
    {
        using var doc = JsonDocument.Parse(Metadata["cases"]);
        return doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
    }

    /// <summary>xunit MemberData rows: one per case in the fixture file.</summary>
    public static IEnumerable<object[]> CaseRows(string fileName, string? prefix = null) =>
        Load(fileName).CaseNames().Where(c => prefix is null || c.StartsWith(prefix, StringComparison.Ordinal)).Select(c => new object[] { c });

    private Entry Get(string name, string? dtype = null)
    {
        if (!_entries.TryGetValue(name, out var e))
            throw new KeyNotFoundException($"Fixture {Path.GetFileName(FilePath)} has no tensor '{name}'.");
        if (dtype is not null && e.DType != dtype)
            throw new InvalidDataException($"Fixture {Path.GetFileName(FilePath)} tensor '{name}' is {e.DType}, expected {dtype}.");
        return e;
    }
}
