using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// Collects an architecture's state_dict entries in PyTorch registration order together with the
/// rule PyTorch's default initialisation applies to each.
/// </summary>
internal sealed class SpecBuilder
{
    private readonly List<TensorSpec> _specs = new();
    private readonly List<InitRule> _rules = new();

    public IReadOnlyList<TensorSpec> Specs => _specs;
    public IReadOnlyList<InitRule> Rules => _rules;

    /// <summary>nn.Conv2d: weight (out, in, k, k), optional bias (out); both U(±1/√(in·k·k)).</summary>
    public void Conv(string prefix, int inChannels, int outChannels, int kernel, bool bias)
    {
        float bound = 1f / MathF.Sqrt(inChannels * kernel * kernel);
        Add($"{prefix}.weight", [outChannels, inChannels, kernel, kernel], TensorRole.Parameter, InitRule.Uniform(bound));
        if (bias) Add($"{prefix}.bias", [outChannels], TensorRole.Parameter, InitRule.Uniform(bound));
    }

    /// <summary>
    /// A conv started as airbench starts it: U(±1/√(in·k·k)) (PyTorch's default), then filter o for
    /// o &lt; min(out, in) replaced by the identity on input channel o (torch.nn.init.dirac_ on the first `in`
    /// filters), so every layer starts as an implicit residual connection; the bias, if any, starts at 0.
    /// </summary>
    public void DiracConv(string prefix, int inChannels, int outChannels, int kernel, bool bias = false)
    {
        float bound = 1f / MathF.Sqrt(inChannels * kernel * kernel);
        Add($"{prefix}.weight", [outChannels, inChannels, kernel, kernel], TensorRole.Parameter, InitRule.UniformDirac(bound));
        if (bias) Add($"{prefix}.bias", [outChannels], TensorRole.Parameter, InitRule.Constant(0f));
    }

    /// <summary>nn.BatchNorm2d: γ = 1, β = 0, running mean 0, running var 1 (num_batches_tracked lives in checkpoints only).</summary>
    public void BatchNorm(string prefix, int channels)
    {
        Add($"{prefix}.weight", [channels], TensorRole.Parameter, InitRule.Constant(1f));
        Add($"{prefix}.bias", [channels], TensorRole.Parameter, InitRule.Constant(0f));
        Add($"{prefix}.running_mean", [channels], TensorRole.Buffer, InitRule.Constant(0f));
        Add($"{prefix}.running_var", [channels], TensorRole.Buffer, InitRule.Constant(1f));
    }

    /// <summary>nn.InstanceNorm2d(affine=True): γ = 1, β = 0 and no running statistics (it normalises every image by its own).</summary>
    public void InstanceNorm(string prefix, int channels)
    {
        Add($"{prefix}.weight", [channels], TensorRole.Parameter, InitRule.Constant(1f));
        Add($"{prefix}.bias", [channels], TensorRole.Parameter, InitRule.Constant(0f));
    }

    /// <summary>nn.Linear: weight (out, in) and, unless <paramref name="bias"/> is false, bias (out); both U(±1/√in).</summary>
    public void Linear(string prefix, int inFeatures, int outFeatures, bool bias = true)
    {
        float bound = 1f / MathF.Sqrt(inFeatures);
        Add($"{prefix}.weight", [outFeatures, inFeatures], TensorRole.Parameter, InitRule.Uniform(bound));
        if (bias) Add($"{prefix}.bias", [outFeatures], TensorRole.Parameter, InitRule.Uniform(bound));
    }

    /// <summary>An embedding table (rows, width) drawn uniformly in ±<paramref name="bound"/>.</summary>
    public void Embedding(string name, int rows, int width, float bound) =>
        Add(name, [rows, width], TensorRole.Parameter, InitRule.Uniform(bound));

    private void Add(string name, int[] shape, TensorRole role, InitRule rule)
    {
        _specs.Add(new TensorSpec(name, shape, role));
        _rules.Add(rule);
    }
}

/// <summary>
/// How one tensor starts: uniform in ±Bound (kaiming_uniform with a = √5 reduces to bound 1/√fan_in,
/// the same bound PyTorch uses for biases) or a constant; a uniform conv weight may then get identity
/// filters (<see cref="SpecBuilder.DiracConv"/>).
/// </summary>
internal readonly record struct InitRule(bool IsUniform, float Value, bool Dirac = false)
{
    public static InitRule Uniform(float bound) => new(true, bound);
    public static InitRule UniformDirac(float bound) => new(true, bound, Dirac: true);
    public static InitRule Constant(float value) => new(false, value);

    /// <summary>
    /// Fresh weights in state_dict order, drawn from <paramref name="rng"/> in that order. Parameters
    /// require gradients (like nn.Parameter); buffers do not.
    /// </summary>
    public static ParameterSet Draw(IReadOnlyList<TensorSpec> specs, IReadOnlyList<InitRule> rules, Random rng)
    {
        var set = new ParameterSet();
        for (int i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            var rule = rules[i];
            var data = new float[Shape.Size(spec.Shape)];
            if (rule.IsUniform)
                for (int j = 0; j < data.Length; j++) data[j] = (float)((2.0 * rng.NextDouble() - 1.0) * rule.Value);
            else
                Array.Fill(data, rule.Value);
            if (rule.Dirac) SetIdentityFilters(data, spec.Shape);
            set.Add(spec.Name, new Tensor(spec.Shape.ToArray(), data, spec.Role == TensorRole.Parameter), spec.Role);
        }
        return set;
    }

    // OIHW weight: filter o < min(O, I) becomes 1 at (o, o, centre) and 0 elsewhere.
    private static void SetIdentityFilters(float[] weight, int[] shape)
    {
        int outC = shape[0], inC = shape[1], kh = shape[2], kw = shape[3], filter = inC * kh * kw;
        for (int o = 0; o < Math.Min(outC, inC); o++)
        {
            Array.Clear(weight, o * filter, filter);
            weight[o * filter + (o * kh + kh / 2) * kw + kw / 2] = 1f;
        }
    }
}
