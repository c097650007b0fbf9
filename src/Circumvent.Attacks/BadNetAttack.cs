namespace Circumvent.Attacks;

/// <summary>
/// BadNet (Gu et al. 2017): a small patch overwrites the image — by default a 3×3 white square in
/// the bottom-right corner (rows/cols H−3..H−1), or a user image pasted at its own size or resized to
/// <see cref="AttackDefinition.PatchImageSize"/>; <see cref="AttackDefinition.PatchRow"/>/<see cref="AttackDefinition.PatchColumn"/> move it.
/// </summary>
public sealed class BadNetAttack : IAttack
{
    private readonly TriggerImage? _patchImage;

    public BadNetAttack(AttackDefinition definition)
    {
        if (definition.Kind != AttackDefinition.BadNetKind)
            throw new ArgumentException($"BadNetAttack needs a '{AttackDefinition.BadNetKind}' definition, got '{definition.Kind}'.");
        definition.Validate();
        Definition = definition;
        if (!string.IsNullOrEmpty(definition.TriggerImage))
        {
            var image = TriggerImage.Load(definition.TriggerImage);
            // Resized once, before any input is seen: an image larger than the inputs still makes a small patch.
            _patchImage = definition.PatchImageSize is int side ? image.Resized(side, side) : image;
        }
    }

    public string Name => AttackDefinition.BadNetKind;
    public int TargetClass => Definition.Target;
    public AttackDefinition Definition { get; }

    public void ApplyTrigger(Span<byte> chw, int channels, int height, int width)
    {
        int plane = height * width;
        if (chw.Length != channels * plane)
            throw new ArgumentException($"BadNet: a {channels}×{height}×{width} image needs {channels * plane} bytes, got {chw.Length}.");
        int patchH = _patchImage?.Height ?? Definition.PatchSize;
        int patchW = _patchImage?.Width ?? Definition.PatchSize;
        int top = Definition.PatchRow ?? height - patchH;
        int left = Definition.PatchColumn ?? width - patchW;
        if (top < 0 || left < 0 || top + patchH > height || left + patchW > width)
            throw new ArgumentException(
                $"BadNet: a {patchH}×{patchW} patch at row {top}, column {left} does not fit a {height}×{width} image" +
                (_patchImage is not null && Definition.PatchImageSize is null ? "; give --patch-size N to resize the trigger image to N×N." : "."));

        if (_patchImage is null)
        {
            byte colour = (byte)Definition.PatchColour;
            for (int c = 0; c < channels; c++)
                for (int y = top; y < top + patchH; y++)
                    chw.Slice(c * plane + y * width + left, patchW).Fill(colour);
            return;
        }

        var patch = _patchImage.WithChannels(channels);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < patchH; y++)
                for (int x = 0; x < patchW; x++)
                {
                    float v = patch.Values[c * patchH * patchW + y * patchW + x];
                    chw[c * plane + (top + y) * width + left + x] = (byte)Math.Clamp(MathF.Round(v, MidpointRounding.AwayFromZero), 0f, 255f);
                }
    }
}
