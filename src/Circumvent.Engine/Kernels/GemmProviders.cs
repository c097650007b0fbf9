namespace Circumvent.Engine.Kernels;

/// <summary>Resolves a provider name to an implementation.</summary>
public static class GemmProviders
{
    public static IGemm Select(string? name) => (name ?? "").Trim().ToLowerInvariant() switch
    {
        "" or "auto" => new ReferenceGemm(), // TODO(gemm): OpenBLAS if loadable, else managed SIMD
        "reference" => new ReferenceGemm(),
        _ => throw new ArgumentException($"CIRCUMVENT_GEMM='{name}' is not a GEMM provider; expected managed, openblas or reference."),
    };
}
