namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// Finds the state_dict in what a .pth file holds: the dict of tensors itself, or a training
/// checkpoint that keeps it under a well-known key ({"state_dict": ..., "epoch": 3}, BackdoorBench's
/// {"model": ...}); then drops the "module." prefix nn.DataParallel / DistributedDataParallel add.
/// </summary>
internal static class StateDictLocator
{
    /// <summary>Keys under which training scripts store the state_dict, in the order they are tried.</summary>
    public static readonly string[] WrapperKeys = ["state_dict", "model_state_dict", "model", "net", "state"];

    private const string DataParallelPrefix = "module.";
    private const int MaxNesting = 3;

    /// <summary>(key, tensor) pairs in the file's order, prefix stripped.</summary>
    public static List<(string Name, TensorRef Tensor)> Find(object? root)
    {
        var dict = Unwrap(root, depth: 0, where: "the file");
        var entries = new List<(string, TensorRef)>(dict.Count);
        foreach (var (key, value) in dict.Entries)
        {
            if (key is not string name) throw new PickleException($"the state_dict has a non-string key ({PickleDescribe.Kind(key)})");
            if (value is not TensorRef tensor) throw new PickleException($"state_dict entry '{name}' is {PickleDescribe.Kind(value)}, not a tensor");
            entries.Add((name, tensor));
        }
        if (entries.Count > 0 && entries.All(e => e.Item1.StartsWith(DataParallelPrefix, StringComparison.Ordinal)))
            entries = [.. entries.Select(e => (e.Item1[DataParallelPrefix.Length..], e.Item2))];
        return entries;
    }

    private static PickleDict Unwrap(object? value, int depth, string where)
    {
        if (value is not PickleDict dict)
            throw new PickleException($"{where} holds {PickleDescribe.Kind(value)}, expected a dict of tensors (a state_dict)");
        if (dict.Count == 0) throw new PickleException($"{where} holds an empty dict, not a state_dict");
        var values = dict.Entries.Select(e => e.Value).ToList();
        if (values.All(v => v is TensorRef)) return dict;
        if (depth < MaxNesting)
            foreach (var key in WrapperKeys)
                if (dict.TryGet(key, out var inner) && inner is PickleDict)
                    return Unwrap(inner, depth + 1, $"'{key}'");
        var nonTensors = dict.Entries.Where(e => e.Value is not TensorRef).Select(e => $"'{e.Key}' ({PickleDescribe.Kind(e.Value)})").Take(5);
        throw new PickleException(
            $"{where} is a dict whose entries {string.Join(", ", nonTensors)} are not tensors, and it has no state_dict under " +
            string.Join(", ", WrapperKeys.Select(k => $"'{k}'")));
    }
}
