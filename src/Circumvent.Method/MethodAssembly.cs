namespace Circumvent.Method;

/// <summary>Marker for the method layer (TSC and baselines); see Permutations/, Curves/, Attacks/, Defenses/.</summary>
internal static class MethodAssembly;
