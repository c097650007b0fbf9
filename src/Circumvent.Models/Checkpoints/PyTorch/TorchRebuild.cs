namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// What torch's rebuild functions would construct, as descriptions: a persistent id becomes a
/// <see cref="StorageRef"/>, _rebuild_tensor_v2 / _rebuild_parameter a <see cref="TensorRef"/>.
/// Arguments are checked here; whether the view fits its storage is checked once the storage's bytes are known.
/// </summary>
internal static class TorchRebuild
{
    /// <summary>Longest tensor rank accepted (PyTorch's own limit is 64).</summary>
    private const int MaxRank = 64;

    /// <summary>persistent id ('storage', storage class, key, location, numel).</summary>
    public static StorageRef Storage(object? pid)
    {
        if (pid is not PickleTuple { Items.Length: 5 } t || t.Items[0] is not "storage")
            throw new PickleException($"a persistent id must be ('storage', type, key, location, numel), found {PickleDescribe.Kind(pid)}");
        if (t.Items[1] is not PickleGlobal { Kind: GlobalKind.StorageType } type)
            throw new PickleException($"a storage's type must be a torch storage class, found {PickleDescribe.Kind(t.Items[1])}");
        if (t.Items[2] is not string key || key.Length == 0 || key.Length > 64 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.'))
            throw new PickleException($"a storage key must be a short name, found {PickleDescribe.Kind(t.Items[2])}");
        if (key is "." or "..")
            throw new PickleException($"storage key '{key}' is not a file name");
        if (t.Items[3] is not string location)
            throw new PickleException($"a storage location must be a string, found {PickleDescribe.Kind(t.Items[3])}");
        if (t.Items[4] is not long numel || numel < 0)
            throw new PickleException($"a storage size must be a non-negative int, found {PickleDescribe.Kind(t.Items[4])}");
        return new StorageRef(key, type.DType, numel, location);
    }

    /// <summary>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) or _rebuild_tensor(storage, offset, size, stride).</summary>
    public static TensorRef Tensor(PickleTuple args, bool v2)
    {
        int n = args.Items.Length;
        if (v2 ? n is < 6 or > 7 : n != 4)
            throw new PickleException($"expected {(v2 ? "6 or 7" : "4")} arguments, found {n}");
        if (args.Items[0] is not StorageRef storage) throw new PickleException($"argument 1 must be a storage, found {PickleDescribe.Kind(args.Items[0])}");
        if (args.Items[1] is not long offset || offset < 0) throw new PickleException($"the storage offset must be a non-negative int, found {PickleDescribe.Kind(args.Items[1])}");
        var size = Dimensions(args.Items[2], "size");
        var stride = Dimensions(args.Items[3], "stride");
        if (size.Length != stride.Length)
            throw new PickleException($"size has {size.Length} dimensions but stride has {stride.Length}");
        return new TensorRef(storage, offset, size, stride);
    }

    /// <summary>_rebuild_parameter(data, requires_grad, hooks[, state]): the data tensor itself.</summary>
    public static TensorRef Parameter(PickleTuple args)
    {
        if (args.Items.Length is < 3 or > 4 || args.Items[0] is not TensorRef tensor)
            throw new PickleException("expected (tensor, requires_grad, hooks[, state])");
        return tensor;
    }

    private static long[] Dimensions(object? value, string what)
    {
        if (value is not PickleTuple t) throw new PickleException($"the {what} must be a tuple of ints, found {PickleDescribe.Kind(value)}");
        if (t.Items.Length > MaxRank) throw new PickleException($"the {what} has {t.Items.Length} dimensions (at most {MaxRank})");
        var dims = new long[t.Items.Length];
        for (int i = 0; i < dims.Length; i++)
            dims[i] = t.Items[i] is long d && d >= 0 ? d : throw new PickleException($"the {what} must hold non-negative ints, found {PickleDescribe.Kind(t.Items[i])}");
        return dims;
    }
}
