using Circumvent.Method.Runs;
using System.Text.Json.Nodes;

namespace Circumvent.Method.Defenses;

/// <summary>The "no defence" row of a comparison: returns a copy of θ, scored once.</summary>
public sealed class NoDefense : IDefense
{
    public string Name => "none";

    public JsonObject DescribeOptions() => new();

    public DefenseResult Run(DefenseInput input, IDefenseObserver? observer = null)
    {
        var run = ResumableRun.Start(this, input, observer);
        var before = run.EvaluateBefore(input.Parameters);
        return run.Finish(input.Parameters.Clone(), before, before);
    }
}
