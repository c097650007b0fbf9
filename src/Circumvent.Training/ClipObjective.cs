using Circumvent.Data.Loading;
using Circumvent.Data.Text;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;

namespace Circumvent.Training;

/// <summary>
/// CLIP's objective on a labelled image set: image i of the batch is paired with its caption
/// (<see cref="CaptionSet.Caption"/> of its dataset index and label) and the loss is the symmetric InfoNCE
/// (<see cref="Op.ClipLoss"/>) between the batch's image embeddings (the architecture's forward) and the captions'
/// text embeddings. Two ways to get the text side:
/// <list type="bullet">
/// <item><see cref="Joint"/> (pre-training): the text tower and logit scale are among the trained weights; after every
/// step the logit scale is clamped at ln 100, as CLIP does.</item>
/// <item><see cref="FrozenText"/> (TSC, doc §1.10): a frozen clean text tower's embeddings of every caption, computed
/// once, and a fixed logit multiplier; only the image tower is trained (the architecture is a <see cref="ClipImageTower"/>).</item>
/// </list>
/// NOTE: with few classes a batch holds many images of one class, so the targets count same-class captions as negatives
/// (false negatives); vanilla CLIP ignores this and so do we.
/// </summary>
public sealed class ClipObjective : ITrainingObjective
{
    private readonly CaptionSet _captions;
    private readonly ClipNetwork? _network;
    private readonly ParameterSet? _trained;
    private readonly Dictionary<string, int>? _frozenRows;
    private readonly Tensor? _frozenText;   // (K, joint), K = every caption
    private readonly float _frozenScale;

    private ClipObjective(CaptionSet captions, ClipNetwork? network, ParameterSet? trained, Dictionary<string, int>? rows, Tensor? text, float scale)
    {
        _captions = captions;
        _network = network;
        _trained = trained;
        _frozenRows = rows;
        _frozenText = text;
        _frozenScale = scale;
    }

    /// <summary>Pre-training: both towers and the logit scale of <paramref name="parameters"/> (the trained set, clamped after each step).</summary>
    public static ClipObjective Joint(ClipNetwork network, CaptionSet captions, ParameterSet parameters)
    {
        if (network.Text.Vocabulary != captions.Vocabulary.Count)
            throw new ArgumentException($"The text tower has a vocabulary of {network.Text.Vocabulary} words, the captions {captions.Vocabulary.Count}.");
        return new(captions, network, parameters, null, null, 0);
    }

    /// <summary>
    /// TSC's objective: <paramref name="network"/>'s text tower at <paramref name="clean"/> embeds every caption once (no graph),
    /// and the logit multiplier is exp(logit_scale) of <paramref name="clean"/>, fixed.
    /// </summary>
    public static ClipObjective FrozenText(ClipNetwork network, ParameterSet clean, CaptionSet captions)
    {
        var (all, _) = captions.AllCaptions();
        var rows = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < all.Length; i++) rows.TryAdd(all[i], i);
        Tensor text;
        using (GradMode.Disable())
        {
            var embedded = network.EncodeText(clean, new Tensor([all.Length, captions.Vocabulary.Count], captions.BagOfWords(all)));
            text = new Tensor(embedded.Shape.ToArray(), embedded.ToArray()); // an owned copy, outside any scope's pool
        }
        float scale = MathF.Exp(MathF.Min(clean[ClipNetwork.LogitScaleName].Item(), ClipNetwork.MaxLogitScale));
        return new(captions, null, null, rows, text, scale);
    }

    /// <summary>The fixed logit multiplier of a frozen-text objective (NaN when the scale is trained).</summary>
    public float FixedScale => _frozenText is null ? float.NaN : _frozenScale;

    /// <summary>Captions follow from each image's index and label, so nothing is kept between steps.</summary>
    public bool IsStateless => true;
    public bool ResumesWithinEpoch => true;

    public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
    {
        var captions = new string[batch.Count];
        for (int i = 0; i < batch.Count; i++) captions[i] = _captions.Caption(batch.Indices[i], batch.Labels[i]);
        var image = architecture.Forward(weights, batch.Images, context);   // (B, joint)
        if (_frozenText is null)
        {
            var bag = new Tensor([captions.Length, _captions.Vocabulary.Count], _captions.BagOfWords(captions));
            return Op.ClipLoss(image, _network!.EncodeText(weights, bag), ClipNetwork.Scale(weights));
        }
        int joint = _frozenText.Shape[1];
        var text = Tensor.Empty(captions.Length, joint);
        for (int i = 0; i < captions.Length; i++)
            _frozenText.Span.Slice(_frozenRows![captions[i]] * joint, joint).CopyTo(text.Span.Slice(i * joint, joint));
        return Op.ClipLoss(image, text, new Tensor([], [_frozenScale]));
    }

    /// <summary>CLIP clamps the logit scale at ln 100 after every step (model.logit_scale.data.clamp_).</summary>
    public void AfterStep(double learningRate)
    {
        if (_trained is null) return;
        var scale = _trained[ClipNetwork.LogitScaleName];
        if (scale.Data[0] > ClipNetwork.MaxLogitScale) scale.Data[0] = ClipNetwork.MaxLogitScale;
    }
}
