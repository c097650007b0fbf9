namespace Circumvent.Experiments;

/// <summary>
/// Marker for the experiment layer (above the method, below the CLI): plans expanded into cells
/// (Plans/), the resumable runner that trains, caches and defends (Running/), tables and figures (Reports/).
/// </summary>
internal static class ExperimentsAssembly;
