using Circumvent.Engine;

namespace Circumvent.Data.Loading;

/// <summary>
/// One training batch: normalised images (B, C, H, W), labels and the images' indices in the source
/// dataset. The batch owns <see cref="Images"/> (a pooled tensor registered in no scope, because it
/// is made on the loader's thread): dispose the batch when the step is done to recycle the buffer,
/// or hand it to a scope of your own; an undisposed batch is simply garbage collected.
/// </summary>
public sealed class Batch(Tensor images, int[] labels, int[] indices) : IDisposable
{
    public Tensor Images { get; } = images;
    public int[] Labels { get; } = labels;
    public int[] Indices { get; } = indices;
    public int Count => Labels.Length;

    public void Dispose() => Images.Dispose();
}
