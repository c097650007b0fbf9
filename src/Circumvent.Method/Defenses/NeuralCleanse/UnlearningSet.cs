using Circumvent.Data;

namespace Circumvent.Method.Defenses.NeuralCleanse;

/// <summary>
/// Neural Cleanse's unlearning data (BackdoorBench's nc.py): a random ⌊ratio·N⌋ of D is stamped with each flagged
/// class's reversed trigger and keeps its true labels; the rest of D stays as it is. With k flagged classes the set
/// holds N − ⌊ratio·N⌋ clean images followed by k stamped copies of the chosen ones.
/// </summary>
public static class UnlearningSet
{
    public static ImageDataset Build(ImageDataset clean, IReadOnlyList<ReversedTrigger> flagged, double ratio, int seed)
    {
        if (flagged.Count == 0) throw new ArgumentException("Unlearning needs at least one flagged trigger.");
        var order = Enumerable.Range(0, clean.Count).ToArray();
        new Random(seed).Shuffle(order);
        int stampedCount = (int)(ratio * clean.Count);
        var kept = order[..(clean.Count - stampedCount)];
        var chosen = order[(clean.Count - stampedCount)..];

        int size = clean.ImageSize, total = kept.Length + chosen.Length * flagged.Count;
        var pixels = new byte[total * size];
        var labels = new int[total];
        int next = 0;
        foreach (int i in kept) Copy(i);
        foreach (var trigger in flagged)
            foreach (int i in chosen) trigger.Stamp(Copy(i));
        return new ImageDataset(pixels, labels, clean.Channels, clean.Height, clean.Width, clean.ClassNames);

        Span<byte> Copy(int index)
        {
            var target = pixels.AsSpan(next * size, size);
            clean.Image(index).CopyTo(target);
            labels[next++] = clean.Labels[index];
            return target;
        }
    }
}
