namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Reads a SimCLR encoder checkpoint (encoder "f.*" and projection head "g.*", as `circumvent pretrain` writes it): the
/// stored architecture is the encoder f, and the head's sizes are read off its tensors (g.0.weight is (hidden, d),
/// g.3.weight is (projection, hidden)), so an encoder with any head loads.
/// </summary>
public static class EncoderCheckpoint
{
    public static ModelCheckpoint Load(string path, NonFinitePolicy nonFinite = NonFinitePolicy.Reject)
    {
        var content = CheckpointFiles.Read(path);
        var config = ModelCheckpoint.StoredArchitecture(path, content)
            ?? throw new CheckpointException(path, "no architecture metadata: expected an encoder checkpoint written by `circumvent pretrain`.");
        var shapes = content.Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        if (!shapes.TryGetValue(SimClrNetwork.HeadPrefix + "0.weight", out var first) || first.Length != 2
            || !shapes.TryGetValue(SimClrNetwork.HeadPrefix + "3.weight", out var last) || last.Length != 2)
            throw new CheckpointException(path, $"not an encoder checkpoint: it has no projection head ({SimClrNetwork.HeadPrefix}0.weight and {SimClrNetwork.HeadPrefix}3.weight); make one with `circumvent pretrain`.");
        IArchitecture built;
        try
        {
            built = Architectures.Create(config);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException(path, e.Message, inner: e);
        }
        if (built is not IFeatureExtractor encoder)
            throw new CheckpointException(path, $"architecture {config.Name} cannot be an encoder (its logits are not one linear layer on a feature vector).");
        var network = new SimClrNetwork(encoder, hidden: first[0], projection: last[0]);
        return ModelCheckpoint.FromContent(path, content, config, nonFinite, network);
    }
}
