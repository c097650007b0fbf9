namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// The storage element types a state_dict uses, named by their legacy storage classes
/// (torch.FloatStorage, ...), which is how torch.save names them in the pickle, in 1.x and 2.x alike.
/// </summary>
internal enum TorchDType { Float32 = 1, Float16, BFloat16, Float64, Int64, Int32, Int16, Int8, UInt8, Bool }

internal static class TorchDTypes
{
    private static readonly Dictionary<string, TorchDType> ByStorageClass = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = TorchDType.Float32,
        ["HalfStorage"] = TorchDType.Float16,
        ["BFloat16Storage"] = TorchDType.BFloat16,
        ["DoubleStorage"] = TorchDType.Float64,
        ["LongStorage"] = TorchDType.Int64,
        ["IntStorage"] = TorchDType.Int32,
        ["ShortStorage"] = TorchDType.Int16,
        ["CharStorage"] = TorchDType.Int8,
        ["ByteStorage"] = TorchDType.UInt8,
        ["BoolStorage"] = TorchDType.Bool,
    };

    public static bool TryFromStorageClass(string name, out TorchDType dtype) => ByStorageClass.TryGetValue(name, out dtype);

    public static string StorageClass(TorchDType dtype) => ByStorageClass.First(kv => kv.Value == dtype).Key;

    public static int ElementSize(TorchDType dtype) => SafeTensor.ElementSize(ToSafeTensor(dtype));

    public static bool IsFloat(TorchDType dtype) => dtype is TorchDType.Float32 or TorchDType.Float16 or TorchDType.BFloat16 or TorchDType.Float64;

    /// <summary>The same type under its safetensors name (how <see cref="SafeTensor"/> records what the file stored).</summary>
    public static SafeTensorDType ToSafeTensor(TorchDType dtype) => dtype switch
    {
        TorchDType.Float32 => SafeTensorDType.F32,
        TorchDType.Float16 => SafeTensorDType.F16,
        TorchDType.BFloat16 => SafeTensorDType.BF16,
        TorchDType.Float64 => SafeTensorDType.F64,
        TorchDType.Int64 => SafeTensorDType.I64,
        TorchDType.Int32 => SafeTensorDType.I32,
        TorchDType.Int16 => SafeTensorDType.I16,
        TorchDType.Int8 => SafeTensorDType.I8,
        TorchDType.UInt8 => SafeTensorDType.U8,
        TorchDType.Bool => SafeTensorDType.BOOL,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
