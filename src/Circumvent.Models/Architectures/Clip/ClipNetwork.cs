using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A small CLIP: an image tower "visual.*" (<see cref="ClipImageTower"/>), a text tower "text.*" (<see cref="ClipTextTower"/>)
/// and a learnable temperature "logit_scale" (a scalar, log of the logit multiplier; CLIP starts it at ln(1/0.07) and
/// clamps it at ln 100). The names follow OpenAI CLIP's state_dict (visual.*, logit_scale). <see cref="Forward"/> and
/// <see cref="Features"/> give the image embedding, so the network is the image encoder BadEncoder attacks and probes
/// read; <see cref="EncodeText"/> embeds captions.
/// </summary>
public sealed class ClipNetwork : IEncoderNetwork
{
    public const string LogitScaleName = "logit_scale";
    public const int DefaultJoint = 64;
    /// <summary>ln(1/0.07): CLIP's initial temperature 0.07.</summary>
    public static readonly float InitialLogitScale = MathF.Log(1f / 0.07f);
    /// <summary>ln 100: CLIP clamps the logit multiplier at 100.</summary>
    public static readonly float MaxLogitScale = MathF.Log(100f);

    public ClipNetwork(IFeatureExtractor backbone, int vocabulary, int textWidth = ClipTextTower.DefaultWidth, int joint = DefaultJoint)
    {
        Image = new ClipImageTower(backbone, joint);
        Text = new ClipTextTower(vocabulary, textWidth, joint);
        Tensors = [.. Image.Tensors, .. Text.Tensors, new TensorSpec(LogitScaleName, [], TensorRole.Parameter)];
    }

    public ClipImageTower Image { get; }
    public ClipTextTower Text { get; }
    public ArchitectureConfig Config => Image.Config;
    public IReadOnlyList<TensorSpec> Tensors { get; }
    public string EncoderPrefix => ClipImageTower.Prefix;
    public int FeatureSize => Image.Joint;

    public ParameterSet Initialize(Random rng)
    {
        var set = new ParameterSet();
        foreach (var e in Image.Initialize(rng)) set.Add(e.Name, e.Tensor, e.Role);
        foreach (var e in Text.Initialize(rng)) set.Add(e.Name, e.Tensor, e.Role);
        set.Add(LogitScaleName, new Tensor([], [InitialLogitScale], requiresGrad: true), TensorRole.Parameter);
        return set;
    }

    /// <summary>x (N, C, H, W) → image embedding (N, joint), not normalised.</summary>
    public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context) => Image.Forward(parameters, x, context);

    public Tensor Features(ParameterSet parameters, Tensor x, ForwardContext context) => Image.Forward(parameters, x, context);

    /// <summary>bag of words (N, V) → text embedding (N, joint), not normalised.</summary>
    public Tensor EncodeText(ParameterSet parameters, Tensor bag) => Text.Encode(parameters, bag);

    /// <summary>The logit multiplier exp(logit_scale) as a differentiable scalar (shape []).</summary>
    public static Tensor Scale(ParameterSet parameters) => Op.Exp(parameters[LogitScaleName]);
}
