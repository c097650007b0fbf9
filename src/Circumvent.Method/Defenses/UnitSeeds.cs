namespace Circumvent.Method.Defenses;

/// <summary>
/// One independent seed per (round, purpose), derived from the run's seed alone, so a unit computes
/// the same thing whether the run went straight through or was resumed just before it.
/// </summary>
internal static class UnitSeeds
{
    public const int RandomPermutation = 1;
    public const int FirstCurve = 2;
    public const int SecondCurve = 3;
    public const int FineTune = 4;
    /// <summary>The augmentation draws of the BN re-estimation of a curve point (stage 1, stage 2 / MCR's point).</summary>
    public const int FirstPoint = 5;
    public const int SecondPoint = 6;
    /// <summary>The shuffle and augmentation of the matching batches (stage 1 UNALIGN, stage 2 ALIGN).</summary>
    public const int FirstMatching = 7;
    public const int SecondMatching = 8;
    /// <summary>The retuning attack after a defence (its set, frozen augmentation and batches; round 0).</summary>
    public const int Retune = 9;
    /// <summary>The query-based reactivation attack after the retuning attack (its set, generator initialisation and batches; round 0).</summary>
    public const int Qra = 10;
    /// <summary>Neural Cleanse: a class's trigger search (its round is the class + 1); the unlearning subset and its fine-tuning.</summary>
    public const int TriggerSearch = 20;
    public const int UnlearningSubset = 21;
    /// <summary>ANP: the batches and neuron noise of the mask optimisation.</summary>
    public const int NeuronMasks = 22;
    /// <summary>I-BAU: its batches (drawn once) and the images of each batch that carry the perturbation.</summary>
    public const int IBau = 30;
    /// <summary>PAM's BTI-DBF(U): the generator's initialisation and pre-training; a round's feature mask, generator step and target detection; the unlearning batches' replaced images.</summary>
    public const int BtiPretrain = 31;
    public const int BtiMask = 32;
    public const int BtiGenerator = 33;
    public const int BtiTarget = 34;
    public const int BtiBatches = 35;

    public static int For(int seed, int round, int purpose) =>
        unchecked((int)(Mix((uint)seed * 0x9E3779B1u ^ (uint)round * 0x85EBCA77u ^ (uint)purpose * 0xC2B2AE3Du) & 0x7FFFFFFF));

    // murmur3 finaliser: nearby inputs give unrelated seeds.
    private static uint Mix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }
}
