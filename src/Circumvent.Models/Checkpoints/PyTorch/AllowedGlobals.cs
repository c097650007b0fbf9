namespace Circumvent.Models.Checkpoints.PyTorch;

/// <summary>
/// The globals a state_dict pickle may name, and nothing else: an ordered dict, the tensor and
/// parameter rebuild functions, and the storage classes of the supported dtypes. Anything else
/// (os.system, builtins.eval, a model class...) is refused when the GLOBAL opcode names it, before any
/// argument is even read, so nothing a pickle asks for is ever called.
/// </summary>
internal static class AllowedGlobals
{
    public static PickleGlobal Resolve(string module, string name)
    {
        GlobalKind? kind = (module, name) switch
        {
            ("collections", "OrderedDict") => GlobalKind.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => GlobalKind.RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor") => GlobalKind.RebuildTensor,
            ("torch._utils", "_rebuild_parameter") => GlobalKind.RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => GlobalKind.RebuildParameterWithState,
            _ => null,
        };
        if (kind is GlobalKind k) return new PickleGlobal(module, name, k);
        if (module == "torch" && TorchDTypes.TryFromStorageClass(name, out var dtype))
            return new PickleGlobal(module, name, GlobalKind.StorageType, dtype);
        throw new PickleException(Refusal(module, name));
    }

    private static string Refusal(string module, string name)
    {
        string why = module.StartsWith("torch", StringComparison.Ordinal) || module == "collections" || module == "builtins"
                     || module is "os" or "posix" or "nt" or "subprocess" or "sys"
            ? "only an ordered dict of tensors may appear in a checkpoint"
            : "this looks like a pickled Python object (e.g. torch.save(model) instead of torch.save(model.state_dict())); "
              + "re-save the state_dict";
        return $"refused the global '{module}.{name}': {why}. Nothing in the file was executed.";
    }
}
