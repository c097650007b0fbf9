using System.Text.Json;
using Circumvent.Data;
using Circumvent.Data.Loading;

namespace Circumvent.Attacks;

/// <summary>
/// CTRL's poisoning of a self-supervised pre-training set (PoisonAgent.choose_poisons_randomly in the authors' code):
/// the first ⌊<see cref="Rate"/>·N⌋ images of the <see cref="Target"/> class, in dataset order, carry the frequency
/// trigger (clean-label: SimCLR never reads the labels). Its test: every non-target test image triggered, the share
/// the encoder's kNN puts in the target class (ASR).
/// </summary>
public sealed record CtrlPoisoning(CtrlTrigger Trigger, int Target, double Rate)
{
    /// <summary>The rate the authors' README finally runs and Table 13 is headed with (the paper's text says 0.5%).</summary>
    public const double DefaultRate = 0.05;

    /// <summary>CTRL's SimCLR augmentation: RandomResizedCrop with scale (0.2, 1), otherwise SimCLR's.</summary>
    public static ContrastiveAugmentation Augmentation { get; } = new() { Scale = (0.2, 1.0) };

    public void Validate(ImageDataset train)
    {
        if (!(Rate > 0 && Rate < 1)) throw new ArgumentException($"--poison-rate must lie in (0, 1), got {Rate}.");
        if (Target < 0 || Target >= train.NumClasses) throw new ArgumentException($"--target must be a class of the data (0–{train.NumClasses - 1}), got {Target}.");
        Trigger.CheckShape(train.Channels, train.Height, train.Width);
    }

    /// <summary>The poisoned images: the first ⌊Rate·N⌋ of the target class (all of them when the class has fewer).</summary>
    public int[] Choose(ImageDataset train)
    {
        int count = (int)Math.Floor(Rate * train.Count);
        return [.. Enumerable.Range(0, train.Count).Where(i => train.Labels[i] == Target).Take(count)];
    }

    /// <summary>A copy of <paramref name="train"/> whose <see cref="Choose"/>n images carry the trigger.</summary>
    public ImageDataset Poison(ImageDataset train, out int[] poisoned)
    {
        Validate(train);
        poisoned = Choose(train);
        var copy = train.Subset([.. Enumerable.Range(0, train.Count)]);
        foreach (int i in poisoned) Trigger.ApplyTrigger(copy.Image(i), copy.Channels, copy.Height, copy.Width);
        return copy;
    }

    /// <summary>The test images not of the target class, triggered: the ASR query set.</summary>
    public ImageDataset TriggeredNonTarget(ImageDataset test)
    {
        var others = test.Subset([.. Enumerable.Range(0, test.Count).Where(i => test.Labels[i] != Target)]);
        for (int i = 0; i < others.Count; i++) Trigger.ApplyTrigger(others.Image(i), others.Channels, others.Height, others.Width);
        return others;
    }

    /// <summary>The record stored in the encoder checkpoint ("circumvent.ctrl").</summary>
    public string ToJson(int poisonedCount) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["attack"] = "ctrl",
        ["trigger"] = Trigger.Describe(),
        ["magnitude"] = Trigger.Magnitude,
        ["window"] = Trigger.Window,
        ["positions"] = Trigger.Positions,
        ["channels"] = "UV",
        ["target"] = Target,
        ["poison_rate"] = Rate,
        ["poisoned"] = poisonedCount,
        ["selection"] = "the first floor(rate*N) images of the target class, in dataset order",
    });
}
