using Circumvent.Engine;

namespace Circumvent.Data.Loading;

/// <summary>
/// One training batch: normalised images (B, C, H, W), labels and the images' indices in the source
/// dataset. The batch owns <see cref="Images"/> (a pooled tensor registered in no scope, because it
/// is made on the loader's thread): dispose the batch when the step is done to recycle the buffer,
/// or hand it to a scope of your own; an undisposed batch is simply garbage collected.
/// A loader with several views per image (<see cref="BatchLoaderOptions.Views"/>) gives them all in
/// <see cref="Views"/>, the first of which is <see cref="Images"/>.
/// </summary>
public sealed class Batch(Tensor images, int[] labels, int[] indices, Tensor[]? views = null) : IDisposable
{
    public Tensor Images { get; } = images;

    /// <summary>Every augmented view of the batch's images, each (B, C, H, W); just <see cref="Images"/> for a one-view batch.</summary>
    public IReadOnlyList<Tensor> Views { get; } = views ?? [images];
    public int[] Labels { get; } = labels;
    public int[] Indices { get; } = indices;
    public int Count => Labels.Length;

    public void Dispose()
    {
        foreach (var view in Views) view.Dispose();
    }
}
