namespace Circumvent.Models.Checkpoints.PyTorch;

// The only values the restricted unpickler ever builds. Besides these it produces null, bool, long,
// double and string. None of them runs code; none is a live Python object.

/// <summary>A Python tuple.</summary>
internal sealed record PickleTuple(object?[] Items);

/// <summary>A Python list (mutable while unpickling: APPEND/APPENDS).</summary>
internal sealed class PickleList
{
    public List<object?> Items { get; } = new();
}

/// <summary>A dict or OrderedDict, keys in insertion order (a repeated key keeps its first position, as in Python).</summary>
internal sealed class PickleDict
{
    private readonly List<object?> _keys = new();
    private readonly Dictionary<object, object?> _values = new();

    public int Count => _keys.Count;
    public IEnumerable<KeyValuePair<object?, object?>> Entries => _keys.Select(k => new KeyValuePair<object?, object?>(k, _values[k!]));

    public void Set(object? key, object? value)
    {
        // Keys of a state_dict are strings; ints and other scalars are allowed as Python allows them.
        if (key is not (string or long or bool or double))
            throw new PickleException($"a dict key must be a string or number, found {PickleDescribe.Kind(key)}");
        if (!_values.ContainsKey(key)) _keys.Add(key);
        _values[key] = value;
    }

    public bool TryGet(string key, out object? value) => _values.TryGetValue(key, out value);
}

/// <summary>A reference to one of the allowed globals (see <see cref="AllowedGlobals"/>).</summary>
internal sealed record PickleGlobal(string Module, string Name, GlobalKind Kind, TorchDType DType = default)
{
    public string FullName => $"{Module}.{Name}";
}

internal enum GlobalKind { OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, StorageType }

/// <summary>
/// A storage named by the pickle's persistent id ('storage', type, key, location, numel): its bytes are
/// the zip entry `data/{Key}`, <see cref="ElementCount"/> elements of <see cref="DType"/>.
/// </summary>
internal sealed record StorageRef(string Key, TorchDType DType, long ElementCount, string Location);

/// <summary>A tensor view of a storage: element [i0..ik] is storage[Offset + Σ i_j·Stride_j].</summary>
internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride);

/// <summary>A malformed or refused pickle; the checkpoint reader adds the file name.</summary>
internal sealed class PickleException(string message) : Exception(message);

internal static class PickleDescribe
{
    /// <summary>A short, non-recursive description of a value for error messages.</summary>
    public static string Kind(object? value) => value switch
    {
        null => "None",
        bool => "a bool",
        long => "an int",
        double => "a float",
        string s => $"the string '{(s.Length > 40 ? s[..40] + "…" : s)}'",
        PickleTuple t => $"a {t.Items.Length}-tuple",
        PickleList => "a list",
        PickleDict => "a dict",
        PickleGlobal g => $"the global {g.FullName}",
        StorageRef => "a storage",
        TensorRef => "a tensor",
        _ => value.GetType().Name,
    };
}
