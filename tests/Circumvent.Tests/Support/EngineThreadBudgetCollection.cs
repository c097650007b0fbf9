namespace Circumvent.Tests.Support;

/// <summary>
/// Tests that change the engine's process-wide thread budget (<c>Parallelism.Threads</c>, e.g. the
/// experiment runner's --parallel). The budget decides how kernels split their work, and so the
/// float summation order: a test changing it while another runs would make that one's
/// bit-for-bit determinism checks fail. This collection runs alone, after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineThreadBudgetCollection
{
    public const string Name = "engine thread budget";
}
