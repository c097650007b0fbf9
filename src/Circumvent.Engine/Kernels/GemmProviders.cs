namespace Circumvent.Engine.Kernels;

/// <summary>Resolves a provider name (CIRCUMVENT_GEMM, CLI options, tests) to an implementation.</summary>
public static class GemmProviders
{
    public const string Managed = "managed", OpenBlas = "openblas", Reference = "reference";

    /// <summary>"" or "auto": OpenBLAS when loadable, else the managed SIMD kernel; or one provider by name.</summary>
    public static IGemm Select(string? name)
    {
        var key = (name ?? "").Trim().ToLowerInvariant();
        if (key is "" or "auto")
            return OpenBlasGemm.TryLoad(out _) ?? (IGemm)new ManagedGemm();
        return Create(key);
    }

    /// <summary>Builds the named provider; throws with the reason when it cannot be used here.</summary>
    public static IGemm Create(string name) => name.Trim().ToLowerInvariant() switch
    {
        Managed => new ManagedGemm(),
        Reference => new ReferenceGemm(),
        OpenBlas => OpenBlasGemm.TryLoad(out var reason)
            ?? throw new InvalidOperationException($"GEMM provider 'openblas' was requested but cannot be used: {reason}."),
        _ => throw new ArgumentException(
            $"'{name}' is not a GEMM provider; expected auto, {Managed}, {OpenBlas} or {Reference}."),
    };

    /// <summary>Names of the providers usable in this process (managed and reference always are).</summary>
    public static IReadOnlyList<string> Available()
    {
        var names = new List<string> { Managed };
        if (OpenBlasGemm.TryLoad(out _) is not null) names.Add(OpenBlas);
        names.Add(Reference);
        return names;
    }
}
