using System.Buffers.Binary;
using System.Text;

namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>Emits protocol-2 pickle opcodes, the subset torch.save uses and weights_only loading accepts.</summary>
internal sealed class PickleWriter
{
    private readonly MemoryStream _out = new();

    public byte[] ToArray() => _out.ToArray();

    public void Proto() => _out.Write([0x80, 2]);
    public void Stop() => _out.WriteByte((byte)'.');
    public void Mark() => _out.WriteByte((byte)'(');
    public void Tuple() => _out.WriteByte((byte)'t');
    public void EmptyTuple() => _out.WriteByte((byte)')');
    public void Reduce() => _out.WriteByte((byte)'R');
    public void SetItems() => _out.WriteByte((byte)'u');
    public void BinPersId() => _out.WriteByte((byte)'Q');
    public void Bool(bool value) => _out.WriteByte(value ? (byte)0x88 : (byte)0x89);

    public void Global(string module, string name)
    {
        _out.WriteByte((byte)'c');
        _out.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    public void String(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)bytes.Length);
        _out.WriteByte((byte)'X');
        _out.Write(length);
        _out.Write(bytes);
    }

    /// <summary>BININT for 32-bit values, LONG1 (8 bytes, two's complement) beyond.</summary>
    public void Int(long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes, (int)value);
            _out.WriteByte((byte)'J');
            _out.Write(bytes[..4]);
            return;
        }
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        _out.Write([0x8a, 8]);
        _out.Write(bytes);
    }

    public void IntTuple(IEnumerable<long> values)
    {
        Mark();
        foreach (var v in values) Int(v);
        Tuple();
    }

    /// <summary>
    /// _rebuild_tensor_v2(persistent storage (storageClass, key, "cpu", numel), offset, size, stride, False, OrderedDict()):
    /// what torch.save writes for one tensor.
    /// </summary>
    public void RebuildTensor(string storageClass, string key, long numel, long offset, IEnumerable<long> size, IEnumerable<long> stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark();
        String("storage");
        Global("torch", storageClass);
        String(key);
        String("cpu");
        Int(numel);
        Tuple();
        BinPersId();
        Int(offset);
        IntTuple(size);
        IntTuple(stride);
        Bool(false);
        EmptyOrderedDict();
        Tuple();
        Reduce();
    }

    /// <summary>collections.OrderedDict() — an empty ordered dict.</summary>
    public void EmptyOrderedDict()
    {
        Global("collections", "OrderedDict");
        EmptyTuple();
        Reduce();
    }
}
