using System.Buffers.Binary;

namespace Circumvent.Models.Checkpoints;

/// <summary>Little-endian element bytes → float32 or int64 values, shared by the safetensors and PyTorch readers.</summary>
internal static class ElementDecoding
{
    /// <summary>Element <paramref name="index"/> of a floating-point buffer as float32.</summary>
    public static float Float(SafeTensorDType dtype, ReadOnlySpan<byte> bytes, long index) => dtype switch
    {
        SafeTensorDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(int)(4 * index)..]),
        SafeTensorDType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(int)(2 * index)..]),
        // bfloat16 is the top half of a float32's bits.
        SafeTensorDType.BF16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(int)(2 * index)..]) << 16),
        // NOTE: float64 is narrowed to float32, the engine's only precision.
        SafeTensorDType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(int)(8 * index)..]),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a floating-point type"),
    };

    /// <summary>Element <paramref name="index"/> of an integer or boolean buffer as int64.</summary>
    public static long Integer(SafeTensorDType dtype, ReadOnlySpan<byte> bytes, long index) => dtype switch
    {
        SafeTensorDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(bytes[(int)(8 * index)..]),
        SafeTensorDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(int)(4 * index)..]),
        SafeTensorDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(bytes[(int)(2 * index)..]),
        SafeTensorDType.I8 => (sbyte)bytes[(int)index],
        SafeTensorDType.U8 => bytes[(int)index],
        SafeTensorDType.BOOL => bytes[(int)index] != 0 ? 1 : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not an integer type"),
    };

    public static float[] Floats(SafeTensorDType dtype, ReadOnlySpan<byte> bytes, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = Float(dtype, bytes, i);
        return values;
    }

    public static long[] Integers(SafeTensorDType dtype, ReadOnlySpan<byte> bytes, int count)
    {
        var values = new long[count];
        for (int i = 0; i < count; i++) values[i] = Integer(dtype, bytes, i);
        return values;
    }
}
