using System.Buffers.Binary;
using System.Text;

namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// A pickle interpreter for state_dicts: the opcodes torch.save emits (protocol 2, plus the protocol 4
/// framing and short-string opcodes), building only plain values, dicts, lists, tuples and tensor
/// descriptions. Globals are checked against <see cref="AllowedGlobals"/>; REDUCE and BUILD only
/// "call" those, by constructing data. Nothing is executed, imported or evaluated.
/// </summary>
/// <remarks>
/// Every opcode consumes at least one byte, so the stack and memo are bounded by the pickle's length;
/// recursive structures (a list appended to itself) can be built but are never walked recursively.
/// </remarks>
internal sealed class RestrictedUnpickler
{
    private readonly byte[] _data;
    private int _pos;
    private List<object?> _stack = new();
    private readonly Stack<List<object?>> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();

    private RestrictedUnpickler(byte[] data) => _data = data;

    /// <summary>The object the pickle describes.</summary>
    /// <exception cref="PickleException">Malformed, truncated, or names a refused global.</exception>
    public static object? Load(byte[] pickle) => new RestrictedUnpickler(pickle).Run();

    private object? Run()
    {
        while (true)
        {
            int at = _pos;
            byte op = ReadByte();
            switch (op)
            {
                case 0x80: // PROTO
                    int protocol = ReadByte();
                    if (protocol > 5) throw Error(at, $"pickle protocol {protocol} is newer than any Python writes");
                    break;
                case 0x95: Skip(8); break; // FRAME (protocol 4): a length hint only
                case (byte)'.': // STOP
                    if (_stack.Count != 1 || _marks.Count != 0) throw Error(at, $"STOP with {_stack.Count} values on the stack (expected 1)");
                    return _stack[0];
                case (byte)'}': Push(new PickleDict()); break; // EMPTY_DICT
                case (byte)']': Push(new PickleList()); break; // EMPTY_LIST
                case (byte)')': Push(new PickleTuple([])); break; // EMPTY_TUPLE
                case (byte)'(': _marks.Push(_stack); _stack = new List<object?>(); break; // MARK
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break; // BININT
                case (byte)'K': Push((long)ReadByte()); break; // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(ReadLong1(at)); break; // LONG1
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case (byte)'X': Push(ReadString(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // BINUNICODE
                case 0x8c: Push(ReadString(at, ReadByte())); break; // SHORT_BINUNICODE
                case 0x8d: Push(ReadString(at, BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))); break; // BINUNICODE8
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(ReadByte()))); break; // SHORT_BINSTRING
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(CheckedLength(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))))); break; // BINSTRING
                case 0x85: Push(new PickleTuple([Pop(at)])); break; // TUPLE1
                case 0x86: { var b = Pop(at); var a = Pop(at); Push(new PickleTuple([a, b])); break; } // TUPLE2
                case 0x87: { var c = Pop(at); var b = Pop(at); var a = Pop(at); Push(new PickleTuple([a, b, c])); break; } // TUPLE3
                case (byte)'t': Push(new PickleTuple([.. PopMark(at)])); break; // TUPLE
                case (byte)'l': { var list = new PickleList(); list.Items.AddRange(PopMark(at)); Push(list); break; } // LIST
                case (byte)'d': { var items = PopMark(at); var dict = new PickleDict(); SetItems(at, dict, items); Push(dict); break; } // DICT
                case (byte)'s': { var v = Pop(at); var k = Pop(at); SetItem(at, Top(at), k, v); break; } // SETITEM
                case (byte)'u': { var items = PopMark(at); SetItems(at, Top(at), items); break; } // SETITEMS
                case (byte)'a': { var v = Pop(at); AsList(at, Top(at)).Items.Add(v); break; } // APPEND
                case (byte)'e': { var items = PopMark(at); AsList(at, Top(at)).Items.AddRange(items); break; } // APPENDS
                case (byte)'q': _memo[ReadByte()] = Top(at); break; // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(at); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Top(at); break; // MEMOIZE
                case (byte)'h': Push(Recall(at, ReadByte())); break; // BINGET
                case (byte)'j': Push(Recall(at, BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                case (byte)'c': Push(AllowedGlobals.Resolve(ReadLine(at), ReadLine(at))); break; // GLOBAL
                case 0x93: { var name = Pop(at); var module = Pop(at); Push(AllowedGlobals.Resolve(AsString(at, module), AsString(at, name))); break; } // STACK_GLOBAL
                case (byte)'R': { var args = Pop(at); var callable = Pop(at); Push(Reduce(at, callable, args)); break; } // REDUCE
                case 0x81: { var args = Pop(at); var cls = Pop(at); Push(Reduce(at, cls, args)); break; } // NEWOBJ: same restricted set
                case (byte)'b': Build(at, Pop(at), Top(at)); break; // BUILD
                case (byte)'Q': Push(TorchRebuild.Storage(Pop(at))); break; // BINPERSID
                default:
                    throw Error(at, $"opcode 0x{op:x2} is not one a state_dict pickle uses");
            }
        }
    }

    private object? Reduce(int at, object? callable, object? args)
    {
        if (callable is not PickleGlobal g) throw Error(at, $"REDUCE applies {PickleDescribe.Kind(callable)}, not an allowed global");
        if (args is not PickleTuple tuple) throw Error(at, $"REDUCE arguments must be a tuple, found {PickleDescribe.Kind(args)}");
        try
        {
            return g.Kind switch
            {
                GlobalKind.OrderedDict => NewOrderedDict(at, tuple),
                GlobalKind.RebuildTensorV2 or GlobalKind.RebuildTensor => TorchRebuild.Tensor(tuple, g.Kind == GlobalKind.RebuildTensorV2),
                GlobalKind.RebuildParameter or GlobalKind.RebuildParameterWithState => TorchRebuild.Parameter(tuple),
                _ => throw Error(at, $"{g.FullName} cannot be called"),
            };
        }
        catch (PickleException e) when (!e.Message.StartsWith("at byte", StringComparison.Ordinal))
        {
            throw Error(at, $"{g.FullName}: {e.Message}");
        }
    }

    /// <summary>OrderedDict() or OrderedDict([(k, v), ...]).</summary>
    private PickleDict NewOrderedDict(int at, PickleTuple args)
    {
        var dict = new PickleDict();
        if (args.Items.Length == 0) return dict;
        if (args.Items.Length != 1 || args.Items[0] is not PickleList pairs) throw Error(at, "OrderedDict takes no arguments or one list of pairs");
        foreach (var pair in pairs.Items)
        {
            if (pair is not PickleTuple { Items.Length: 2 } kv) throw Error(at, "OrderedDict items must be (key, value) pairs");
            dict.Set(kv.Items[0], kv.Items[1]);
        }
        return dict;
    }

    /// <summary>BUILD sets an object's state. Allowed on an OrderedDict (its `_metadata` attribute, which
    /// load_state_dict needs no more than we do) and on tensors (parameter state): the state is dropped.</summary>
    private void Build(int at, object? state, object? target)
    {
        if (target is PickleDict or TensorRef) return;
        throw Error(at, $"BUILD on {PickleDescribe.Kind(target)} (state {PickleDescribe.Kind(state)})");
    }

    private void SetItem(int at, object? target, object? key, object? value)
    {
        if (target is not PickleDict dict) throw Error(at, $"SETITEM on {PickleDescribe.Kind(target)}, expected a dict");
        dict.Set(key, value);
    }

    private void SetItems(int at, object? target, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Error(at, "SETITEMS with an odd number of keys and values");
        for (int i = 0; i < items.Count; i += 2) SetItem(at, target, items[i], items[i + 1]);
    }

    private PickleList AsList(int at, object? value) =>
        value as PickleList ?? throw Error(at, $"APPEND on {PickleDescribe.Kind(value)}, expected a list");

    private string AsString(int at, object? value) =>
        value as string ?? throw Error(at, $"expected a string, found {PickleDescribe.Kind(value)}");

    private object? Recall(int at, long key) =>
        _memo.TryGetValue(key, out var value) ? value : throw Error(at, $"memo entry {key} was never stored");

    private long ReadLong1(int at)
    {
        int n = ReadByte();
        if (n > 8) throw Error(at, $"an integer of {n} bytes is out of range");
        var bytes = Take(n);
        long value = 0;
        for (int i = n - 1; i >= 0; i--) value = (value << 8) | bytes[i];
        // Two's complement: sign-extend from the top byte.
        if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0) value -= 1L << (8 * n);
        return value;
    }

    private string ReadString(int at, ulong length)
    {
        var bytes = Take(CheckedLength(at, length));
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Error(at, "a string is not valid UTF-8");
        }
    }

    private int CheckedLength(int at, ulong length) =>
        length <= (ulong)(_data.Length - _pos) ? (int)length : throw Error(at, $"a {length}-byte string runs past the end of the pickle");

    /// <summary>A newline-terminated ASCII line (GLOBAL's module and name).</summary>
    private string ReadLine(int at)
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0 || end - _pos > 256) throw Error(at, "GLOBAL name is not a short newline-terminated line");
        var line = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return line;
    }

    private byte ReadByte() => _pos < _data.Length ? _data[_pos++] : throw Truncated();

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n > _data.Length - _pos) throw Truncated();
        var span = _data.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    private void Skip(int n) => Take(n);

    private void Push(object? value) => _stack.Add(value);

    private object? Top(int at) => _stack.Count > 0 ? _stack[^1] : throw Error(at, "the stack is empty");

    private object? Pop(int at)
    {
        var value = Top(at);
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private List<object?> PopMark(int at)
    {
        if (_marks.Count == 0) throw Error(at, "no MARK to pop to");
        var items = _stack;
        _stack = _marks.Pop();
        return items;
    }

    private PickleException Truncated() => new($"at byte {_data.Length}: the pickle ends before STOP (truncated)");

    private static PickleException Error(int at, string problem) => new($"at byte {at}: {problem}");
}
