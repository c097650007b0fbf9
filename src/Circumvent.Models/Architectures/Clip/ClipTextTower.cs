using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// A small CLIP text tower over a fixed vocabulary: token embeddings mean-pooled over the caption's words, a residual
/// two-layer MLP, then a projection into the joint space. Tensors: "text.token_embedding.weight" (V, width),
/// "text.mlp.0.{weight,bias}" and "text.mlp.2.{weight,bias}" (width, width) (nn.Sequential indices, the ReLU is mlp.1),
/// "text.proj.weight" (joint, width). Word order is ignored: label-made captions differ only in their words.
/// </summary>
public sealed class ClipTextTower
{
    public const string Prefix = "text.";
    public const string EmbeddingName = Prefix + "token_embedding.weight";
    public const int DefaultWidth = 64;

    private readonly SpecBuilder _specs = new();

    public ClipTextTower(int vocabulary, int width, int joint)
    {
        if (vocabulary < 1 || width < 1 || joint < 1)
            throw new ArgumentException($"Text tower sizes must be positive, got vocabulary {vocabulary}, width {width}, joint {joint}.");
        Vocabulary = vocabulary;
        Width = width;
        Joint = joint;
        // CLIP draws token embeddings from N(0, 0.02²); a uniform of the same spread (±0.02·√3) keeps the one init mechanism.
        _specs.Embedding(EmbeddingName, vocabulary, width, 0.02f * MathF.Sqrt(3f));
        _specs.Linear(Prefix + "mlp.0", width, width);
        _specs.Linear(Prefix + "mlp.2", width, width);
        _specs.Linear(Prefix + "proj", width, joint, bias: false);
    }

    public int Vocabulary { get; }
    public int Width { get; }
    public int Joint { get; }
    public IReadOnlyList<TensorSpec> Tensors => _specs.Specs;

    public ParameterSet Initialize(Random rng) => InitRule.Draw(_specs.Specs, _specs.Rules, rng);

    /// <summary>
    /// bag (N, V), each row a caption's mean one-hot (CaptionSet.BagOfWords) → text embedding (N, joint), not normalised:
    /// e = bag·E (the mean of the words' embeddings), h = e + W₂ ReLU(W₁ e + b₁) + b₂, out = P h.
    /// </summary>
    public Tensor Encode(ParameterSet parameters, Tensor bag)
    {
        Shape.CheckRank(bag, 2, "text tower input (bag of words)");
        if (bag.Shape[1] != Vocabulary)
            throw new ArgumentException($"The text tower has a vocabulary of {Vocabulary} words; its input has {bag.Shape[1]} columns.");
        var pooled = Op.MatMul(bag, parameters[EmbeddingName]);                                           // (N, width)
        var hidden = Op.Relu(Op.Linear(pooled, parameters[Prefix + "mlp.0.weight"], parameters[Prefix + "mlp.0.bias"]));
        var h = Op.Add(pooled, Op.Linear(hidden, parameters[Prefix + "mlp.2.weight"], parameters[Prefix + "mlp.2.bias"]));
        return Op.Linear(h, parameters[Prefix + "proj.weight"], null);                                  // (N, joint)
    }
}
