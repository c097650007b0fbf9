namespace Circumvent.Engine;

/// <summary>SimCLR's and CLIP's contrastive losses, composed from ops whose gradients are checked on their own.</summary>
public static partial class Op
{
    /// <summary>
    /// NT-Xent (SimCLR, as the authors' code computes it): the projections of two views, a and b (B, D),
    /// are L2-normalised and stacked into Z (2B, D); S = Z Zᵀ / τ. Row i's positive is its other view
    /// (i ± B); its denominator sums exp over the 2B − 1 other rows, the positive included. The loss is the
    /// mean over the 2B rows of −log(exp(S[i, pos]) / Σ_{j≠i} exp(S[i, j])), i.e. cross-entropy of S with its
    /// diagonal masked out against the positive's index.
    /// </summary>
    public static Tensor NtXent(Tensor a, Tensor b, float temperature = 0.5f)
    {
        Shape.CheckRank(a, 2, "NT-Xent first view");
        Shape.CheckRank(b, 2, "NT-Xent second view");
        if (!Shape.Equal(a.Shape, b.Shape))
            throw new ArgumentException($"NT-Xent: the two views' projections must have one shape, got {Shape.Format(a.Shape)} and {Shape.Format(b.Shape)}.");
        if (!(temperature > 0f) || float.IsInfinity(temperature))
            throw new ArgumentException($"NT-Xent: temperature must be a positive number, got {temperature}.");
        int n = a.Shape[0];
        if (n < 1) throw new ArgumentException("NT-Xent: empty batch.");
        var z = L2Normalize(Concat([a, b], 0), 1);                           // (2B, D), unit rows
        var similarity = MulScalar(MatMul(z, Transpose(z, 0, 1)), 1f / temperature); // (2B, 2B)
        // NOTE: a finite −1e9 (not −∞) on the diagonal: exp underflows to exactly 0 and the softmax's
        // gradient there is 0, without the inf − inf of a true −∞ in the max-shifted softmax.
        var mask = Tensor.Zeros(2 * n, 2 * n);
        for (int i = 0; i < 2 * n; i++) mask.Data[i * 2 * n + i] = -1e9f;
        var positives = new int[2 * n];
        for (int i = 0; i < n; i++) { positives[i] = n + i; positives[n + i] = i; }
        return CrossEntropy(Add(similarity, mask), positives);
    }

    /// <summary>
    /// CLIP's symmetric InfoNCE: image i and text i (both (B, D)) are a pair. With I and T the L2-normalised rows and
    /// s the logit multiplier (a scalar tensor, exp(logit_scale), differentiable), logits_per_image = s·I·Tᵀ (B, B) and
    /// logits_per_text its transpose; the loss is ½[CE(logits_per_image, arange) + CE(logits_per_text, arange)].
    /// </summary>
    public static Tensor ClipLoss(Tensor image, Tensor text, Tensor scale)
    {
        Shape.CheckRank(image, 2, "CLIP loss image embeddings");
        Shape.CheckRank(text, 2, "CLIP loss text embeddings");
        if (!Shape.Equal(image.Shape, text.Shape))
            throw new ArgumentException($"CLIP loss: image and text embeddings must have one shape, got {Shape.Format(image.Shape)} and {Shape.Format(text.Shape)}.");
        if (scale.Length != 1) throw new ArgumentException($"CLIP loss: the logit scale must be a single value, got shape {Shape.Format(scale.Shape)}.");
        int n = image.Shape[0];
        if (n < 1) throw new ArgumentException("CLIP loss: empty batch.");
        var perImage = Mul(MatMul(L2Normalize(image, 1), Transpose(L2Normalize(text, 1), 0, 1)), scale); // (B, B)
        var pairs = Enumerable.Range(0, n).ToArray();
        return MulScalar(Add(CrossEntropy(perImage, pairs), CrossEntropy(Transpose(perImage, 0, 1), pairs)), 0.5f);
    }
}
