using System.Text;
using Circumvent.Data;
using Circumvent.Data.Formats;

namespace Circumvent.Tests.Data;

public class NpyTests
{
    [Fact]
    public void FloatRoundTrip()
    {
        using var dir = new TempFolder();
        float[] values = [1.5f, -2f, 3.25f, float.MaxValue, 0f, -0.125f];
        Npy.Write(dir.File("a.npy"), [2, 3], values);
        var a = Npy.Read(dir.File("a.npy"));
        Assert.Equal(new[] { 2, 3 }, a.Shape);
        Assert.Equal(NpyDType.Float32, a.DType);
        Assert.Equal(values, a.Floats);
        // Data starts on a 64-byte boundary, as numpy writes it.
        Assert.Equal(0, (new FileInfo(dir.File("a.npy")).Length - values.Length * 4) % 64);
    }

    [Fact]
    public void EachDtypeRoundTrips()
    {
        using var dir = new TempFolder();
        Npy.Write(dir.File("u1.npy"), [3], new byte[] { 0, 7, 255 });
        Npy.Write(dir.File("f8.npy"), [2], new[] { 0.5, -1e10 });
        Npy.Write(dir.File("i8.npy"), [1, 2], new[] { -3L, 1L << 40 });
        Npy.Write(dir.File("i4.npy"), [2], new[] { -3, 9 });
        Npy.Write(dir.File("scalar.npy"), [], new[] { 4f });
        Npy.Write(dir.File("empty.npy"), [0, 5], Array.Empty<float>());

        Assert.Equal(new byte[] { 0, 7, 255 }, Npy.Read(dir.File("u1.npy")).Bytes);
        Assert.Equal(new[] { 0.5f, -1e10f }, Npy.Read(dir.File("f8.npy")).Floats);
        var i8 = Npy.Read(dir.File("i8.npy"));
        Assert.Equal(NpyDType.Int64, i8.DType);
        Assert.Equal(new[] { 1, 2 }, i8.Shape);
        Assert.Equal(new[] { -3L, 1L << 40 }, i8.Longs);
        Assert.Equal(new[] { -3, 9 }, Npy.Read(dir.File("i4.npy")).ToInt32());
        var scalar = Npy.Read(dir.File("scalar.npy"));
        Assert.Empty(scalar.Shape);
        Assert.Equal(new[] { 4f }, scalar.Floats);
        Assert.Equal(new[] { 0, 5 }, Npy.Read(dir.File("empty.npy")).Shape);
    }

    // Produced by numpy 1.24: np.save(f, np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))).
    private const string NumpyFortranF4 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=";
    // np.save(f, np.array([3, -1, 7], dtype=np.int64))
    private const string NumpyI8 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoDAAAAAAAAAP//////////BwAAAAAAAAA=";
    // np.save(f, np.array([[0.5, -2.25]], dtype=np.float64))
    private const string NumpyF8 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADgPwAAAAAAAALA";
    // np.save(f, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    private const string NumpyU1 = "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMsIDQpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhc=";
    // np.lib.format.write_array(f, np.arange(4, dtype=np.float32), version=(3, 0))
    private const string NumpyV3 = "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoNCwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBA";

    [Fact]
    public void ReadsFilesWrittenByNumpy()
    {
        using var dir = new TempFolder();
        var fortran = Npy.Read(dir.Write("f.npy", Convert.FromBase64String(NumpyFortranF4)));
        Assert.Equal(new[] { 2, 3 }, fortran.Shape);
        Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5 }, fortran.Floats);

        Assert.Equal(new[] { 3L, -1, 7 }, Npy.Read(dir.Write("i.npy", Convert.FromBase64String(NumpyI8))).Longs);
        Assert.Equal(new[] { 0.5f, -2.25f }, Npy.Read(dir.Write("d.npy", Convert.FromBase64String(NumpyF8))).Floats);
        var u1 = Npy.Read(dir.Write("u.npy", Convert.FromBase64String(NumpyU1)));
        Assert.Equal(new[] { 2, 3, 4 }, u1.Shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (byte)i), u1.Bytes!);
        var v3 = Npy.Read(dir.Write("v3.npy", Convert.FromBase64String(NumpyV3)));
        Assert.Equal(new[] { 0f, 1, 2, 3 }, v3.Floats);
    }

    [Fact]
    public void FortranOrderIn3dIsTransposedToCOrder()
    {
        using var dir = new TempFolder();
        // Shape (2, 3, 2) stored column-major: element (i, j, k) at i + 2j + 6k.
        var stored = new float[12];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++) stored[i + 2 * j + 6 * k] = 100 * i + 10 * j + k;
        var path = dir.File("f3.npy");
        Npy.Write(path, [2, 3, 2], stored);
        var bytes = File.ReadAllBytes(path);
        var text = Encoding.Latin1.GetString(bytes).Replace("'fortran_order': False", "'fortran_order': True ");
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes(text));

        var a = Npy.Read(path).Floats!;
        Assert.Equal(new float[] { 0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121 }, a);
    }

    [Fact]
    public void WrongMagicIsReported()
    {
        using var dir = new TempFolder();
        var path = dir.Write("x.npy", Encoding.ASCII.GetBytes("PK\u0003\u0004 this is a zip"));
        var e = Assert.Throws<DataFormatException>(() => Npy.Read(path));
        Assert.StartsWith("x.npy: expected the .npy magic", e.Message);
    }

    [Fact]
    public void TruncatedDataIsReported()
    {
        using var dir = new TempFolder();
        var path = dir.File("t.npy");
        Npy.Write(path, [4], new[] { 1f, 2, 3, 4 });
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^3]);
        var e = Assert.Throws<DataFormatException>(() => Npy.Read(path));
        Assert.Contains("shape (4) of <f4 needs 16 data bytes, file has 13", e.Message);
    }

    [Fact]
    public void UnsupportedDtypeAndBadHeaderAreReported()
    {
        using var dir = new TempFolder();
        var path = dir.File("b.npy");
        Npy.Write(path, [2], new[] { 1f, 2 });
        var original = File.ReadAllBytes(path);

        File.WriteAllBytes(path, Swap(original, "'<f4'", "'>f4'"));
        Assert.Contains("found '>f4'", Assert.Throws<DataFormatException>(() => Npy.Read(path)).Message);

        File.WriteAllBytes(path, Swap(original, "'shape'", "'shapo'"));
        Assert.Contains("expected a header dict", Assert.Throws<DataFormatException>(() => Npy.Read(path)).Message);

        File.WriteAllBytes(path, Swap(original, "(2,)", "(-2,)"));
        Assert.Contains("non-negative", Assert.Throws<DataFormatException>(() => Npy.Read(path)).Message);
    }

    [Fact]
    public void AbsurdShapeIsRejectedBeforeAllocating()
    {
        using var dir = new TempFolder();
        var path = dir.File("huge.npy");
        Npy.Write(path, [2], new[] { 1f, 2 });
        File.WriteAllBytes(path, Swap(File.ReadAllBytes(path), "(2,)", "(2000000, 2000000)"));
        Assert.Contains("limit", Assert.Throws<DataFormatException>(() => Npy.Read(path)).Message);
    }

    /// <summary>Replaces text inside the header, keeping the header length (pads or trims trailing spaces).</summary>
    private static byte[] Swap(byte[] file, string from, string to)
    {
        var text = Encoding.Latin1.GetString(file);
        int headerEnd = text.IndexOf('\n');
        var header = text[..headerEnd].Replace(from, to);
        int delta = to.Length - from.Length;
        header = delta > 0 ? header[..^delta] : header + new string(' ', -delta);
        return Encoding.Latin1.GetBytes(header + text[headerEnd..]);
    }
}
