namespace Circumvent.Models.Checkpoints;

/// <summary>
/// Reads a SimCLR encoder checkpoint (encoder "f.*" and projection head "g.*", role "encoder", as `circumvent pretrain`
/// writes it) through the one checkpoint reader, and refuses any other model with a message that says what was expected.
/// </summary>
public static class EncoderCheckpoint
{
    public static ModelCheckpoint Load(string path, NonFinitePolicy nonFinite = NonFinitePolicy.Reject)
    {
        var checkpoint = ModelCheckpoint.Load(path, nonFinite: nonFinite);
        if (checkpoint.Encoder is null)
            throw new CheckpointException(path, "not an encoder checkpoint (no role \"encoder\" with an f.*/g.* state_dict): make one with `circumvent pretrain`.");
        return checkpoint;
    }
}
