namespace Circumvent.Method;

/// <summary>
/// Marker for the method layer (TSC and baselines): Permutations/, Curves/, Defenses/ and Evaluation/ are the
/// algorithm; Attacks/ holds only the adaptive attack that is built from them (the attacks themselves live in
/// Circumvent.Attacks, below); Runs/ is the run infrastructure (folders, resumable units, ledger, locks);
/// Pipelines/ joins them into the commands' workflows.
/// </summary>
internal static class MethodAssembly;
