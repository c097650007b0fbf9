namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Element types the checkpoint readers understand (safetensors names); floats are widened/narrowed to
/// float32 on read, integers and booleans widened to int64.
/// </summary>
public enum SafeTensorDType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL }

/// <summary>
/// One named tensor of a safetensors file in memory: floating types as float32 values
/// (<see cref="Floats"/>), integer types as 64-bit integers (<see cref="Int64s"/>, e.g. num_batches_tracked).
/// <see cref="DType"/> is the type stored in the file; writing always stores F32 or I64.
/// </summary>
public sealed class SafeTensor
{
    private SafeTensor(string name, SafeTensorDType dtype, int[] shape, float[]? floats, long[]? int64s)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        Floats = floats;
        Int64s = int64s;
    }

    public string Name { get; }
    public SafeTensorDType DType { get; }
    public int[] Shape { get; }
    public float[]? Floats { get; }
    public long[]? Int64s { get; }
    public bool IsFloat => Floats is not null;
    public int ElementCount => IsFloat ? Floats!.Length : Int64s!.Length;

    public static SafeTensor FromFloats(string name, int[] shape, float[] values, SafeTensorDType storedAs = SafeTensorDType.F32)
    {
        if (!IsFloatType(storedAs)) throw new ArgumentException($"Tensor '{name}': float values cannot be stored as {storedAs}.");
        CheckCount(name, shape, values.Length);
        return new SafeTensor(name, storedAs, shape, values, null);
    }

    public static SafeTensor FromInt64s(string name, int[] shape, long[] values, SafeTensorDType storedAs = SafeTensorDType.I64)
    {
        if (IsFloatType(storedAs)) throw new ArgumentException($"Tensor '{name}': integer values cannot be stored as {storedAs}.");
        CheckCount(name, shape, values.Length);
        return new SafeTensor(name, storedAs, shape, null, values);
    }

    public static bool IsFloatType(SafeTensorDType dtype) => dtype is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64;

    /// <summary>Bytes per element as stored in a file.</summary>
    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.I8 or SafeTensorDType.U8 or SafeTensorDType.BOOL => 1,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 => 2,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        _ => 8,
    };

    private static void CheckCount(string name, int[] shape, int count)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n != count)
            throw new ArgumentException($"Tensor '{name}': shape {Engine.Shape.Format(shape)} needs {n} values, got {count}.");
    }
}

/// <summary>Everything a safetensors file holds: tensors in header order and the string metadata.</summary>
public sealed record SafeTensorsContent(IReadOnlyList<SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata);
