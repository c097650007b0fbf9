using Circumvent.Data.Text;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Method.Evaluation;

/// <summary>
/// A CLIP image tower read as a classifier by prompts (the authors' zero_shot_test): the class prompts ("a photo of a
/// {c}.") are embedded once by a text tower and L2-normalised into T (C, joint); an image's logits are
/// 100·cos(image embedding, T_c). Its tensors are the image tower's alone, so ACC/ASR (<see cref="BackdoorMetrics"/>),
/// BN re-estimation and permutations see an ordinary classifier while the text side stays fixed.
/// </summary>
public sealed class ZeroShotClassifier : IArchitecture
{
    /// <summary>The authors' zero-shot multiplier: logits are 100·cosine (the clamped CLIP scale), so top-1 does not depend on it.</summary>
    public const float LogitMultiplier = 100f;

    private readonly Tensor _prompts; // (joint, C): normalised prompt embeddings as columns

    public ZeroShotClassifier(ClipImageTower image, Tensor promptEmbeddings)
    {
        Shape.CheckRank(promptEmbeddings, 2, "prompt embeddings");
        if (promptEmbeddings.Shape[1] != image.Joint)
            throw new ArgumentException($"The prompts are embedded in {promptEmbeddings.Shape[1]} dimensions, the image tower in {image.Joint}.");
        Image = image;
        Classes = promptEmbeddings.Shape[0];
        using (GradMode.Disable())
        {
            var columns = Op.Transpose(Op.L2Normalize(promptEmbeddings, 1), 0, 1);
            _prompts = new Tensor(columns.Shape.ToArray(), columns.ToArray());
        }
    }

    /// <summary>The classifier of <paramref name="network"/>'s prompts for <paramref name="captions"/>' classes, its text tower at <paramref name="parameters"/>.</summary>
    public static ZeroShotClassifier For(ClipNetwork network, ParameterSet parameters, CaptionSet captions)
    {
        var prompts = captions.Prompts();
        using (GradMode.Disable())
        {
            var embedded = network.EncodeText(parameters, new Tensor([prompts.Length, captions.Vocabulary.Count], captions.BagOfWords(prompts)));
            return new ZeroShotClassifier(network.Image, new Tensor(embedded.Shape.ToArray(), embedded.ToArray()));
        }
    }

    public ClipImageTower Image { get; }
    public int Classes { get; }
    public ArchitectureConfig Config => Image.Config;
    public IReadOnlyList<TensorSpec> Tensors => Image.Tensors;
    public ParameterSet Initialize(Random rng) => Image.Initialize(rng);

    /// <summary>x (N, C, H, W) → 100·cos(image, prompt) (N, classes).</summary>
    public Tensor Forward(ParameterSet parameters, Tensor x, ForwardContext context) =>
        Op.MulScalar(Op.MatMul(Op.L2Normalize(Image.Forward(parameters, x, context), 1), _prompts), LogitMultiplier);
}
