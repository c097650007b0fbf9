using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Support;

/// <summary>
/// Fixtures/second_order.safetensors (tools/fixtures/make_second_order_fixture.py): cnn-small at width 0.125 on 3×8×8
/// inputs with 4 classes, BN in eval mode with randomised statistics, and PyTorch's double-backward products for it.
/// </summary>
public sealed class SecondOrderFixture
{
    public const string File = "second_order.safetensors";

    public SafetensorsFixture Data { get; } = SafetensorsFixture.Load(File);
    public IArchitecture Architecture { get; } = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 8, 8, 4, 0.125));

    /// <summary>The fixture's weights (fresh tensors; parameters do not require gradients).</summary>
    public ParameterSet Model()
    {
        var set = Architecture.Initialize(new Random(0));
        foreach (var e in set.ToArray()) set.Set(e.Name, Data.F32("state." + e.Name));
        return set;
    }

    /// <summary>The parameter names in state_dict order, as the fixture stores them.</summary>
    public string[] ParameterNames => Data.Metadata["parameters"].Split(',');

    /// <summary>One array per parameter, in <see cref="ParameterNames"/> order, of tensors named PREFIX.{name}.</summary>
    public float[][] PerParameter(string prefix) => [.. ParameterNames.Select(n => Data.F32($"{prefix}.{n}").ToArray())];

    /// <summary>Largest |ours − torch| over all arrays, relative to the largest |torch| (at least 1e-6).</summary>
    public static double RelativeError(IReadOnlyList<float[]> ours, IReadOnlyList<float[]> torch)
    {
        double scale = 1e-6, err = 0;
        for (int k = 0; k < torch.Count; k++)
            for (int i = 0; i < torch[k].Length; i++)
            {
                scale = Math.Max(scale, Math.Abs(torch[k][i]));
                err = Math.Max(err, Math.Abs(ours[k][i] - torch[k][i]));
            }
        return err / scale;
    }
}
