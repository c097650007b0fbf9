using Circumvent.Engine;

namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Several networks in one safetensors file, each under its own key prefix ("generator.", "mask."),
/// with free-form metadata: how an attack's auxiliary networks travel beside a classifier without
/// entering its state_dict (which must stay loadable by PyTorch's strict load_state_dict).
/// </summary>
public static class NetworkBundle
{
    /// <summary>Writes every part's tensors under its prefix, through a temporary file and a rename.</summary>
    public static void Save(string path, IReadOnlyList<(string Prefix, ParameterSet Parameters)> parts, IReadOnlyDictionary<string, string> metadata)
    {
        var tensors = new List<SafeTensor>();
        foreach (var (prefix, parameters) in parts)
            foreach (var entry in parameters)
                tensors.Add(SafeTensor.FromFloats(prefix + entry.Name, entry.Tensor.Shape.ToArray(), entry.Tensor.ToArray()));
        SafeTensorsWriter.Write(path, tensors, metadata);
    }

    /// <summary>
    /// The tensors of <paramref name="content"/> under <paramref name="prefix"/>, checked against
    /// <paramref name="specs"/> (nothing missing, nothing extra, shapes as declared, all finite).
    /// Parameters require gradients; buffers do not.
    /// </summary>
    /// <exception cref="CheckpointException">The part does not match the specs.</exception>
    public static ParameterSet Load(string path, SafeTensorsContent content, string prefix, IReadOnlyList<TensorSpec> specs, string partName)
    {
        var found = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var t in content.Tensors)
            if (t.Name.StartsWith(prefix, StringComparison.Ordinal)) found[t.Name[prefix.Length..]] = t;
        var problems = StateDictValidator.Problems(specs, found);
        if (problems.Count > 0)
            throw new CheckpointException(path, $"the {partName} ('{prefix}*') does not match its network: {string.Join("; ", problems)}.");
        var parameters = new ParameterSet();
        foreach (var spec in specs)
        {
            var tensor = found[spec.Name];
            if (NonFiniteCheck.Describe(tensor) is { } problem) throw new CheckpointException(path, problem, prefix + spec.Name);
            parameters.Add(spec.Name, new Tensor(spec.Shape.ToArray(), tensor.Floats!, spec.Role == TensorRole.Parameter), spec.Role);
        }
        return parameters;
    }
}
