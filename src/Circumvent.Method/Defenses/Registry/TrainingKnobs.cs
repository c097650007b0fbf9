using Circumvent.Method.Curves;

namespace Circumvent.Method.Defenses;

/// <summary>
/// The knobs defences that train curves or fine-tune share (same field, option and kind everywhere; defaults are
/// each defence's), and how they change a <see cref="CurveOptions"/> or <see cref="FineTuneOptions"/>.
/// </summary>
public static class TrainingKnobs
{
    public const string CurveEpochsField = "curve_epochs";
    public const string CurveLrField = "curve_lr";
    public const string CurveL2Field = "curve_l2";
    public const string BatchSizeField = "batch_size";
    public const string FineTuneEpochsField = "finetune_epochs";
    public const string FineTuneLrField = "finetune_lr";
    public const string AugmentField = "augment";

    public static DefenseKnob CurveEpochs(CurveOptions d) => DefenseKnob.Integer(CurveEpochsField, d.Epochs, "Epochs per curve.");
    public static DefenseKnob CurveLr(CurveOptions d) => DefenseKnob.Number(CurveLrField, d.LearningRate, "Peak curve learning rate, cosine over the curve epochs.");
    public static DefenseKnob CurveL2(CurveOptions d) => DefenseKnob.Number(CurveL2Field, d.L2, "Weight c of the curve's L2 term 0.5·c·Σ‖w(t)‖² (the authors' --wd).");
    public static DefenseKnob BatchSize(int d, string what) => DefenseKnob.Integer(BatchSizeField, d, $"Batch size for {what}.");
    public static DefenseKnob FineTuneEpochs(FineTuneOptions d) => DefenseKnob.Integer(FineTuneEpochsField, d.Epochs, "Fine-tuning epochs.");
    public static DefenseKnob FineTuneLr(FineTuneOptions d) => DefenseKnob.Number(FineTuneLrField, d.LearningRate, "Fine-tuning learning rate.");
    public static DefenseKnob Augment(string what) => DefenseKnob.Switch(AugmentField, $"{what} on D without random crop + flip.");

    /// <summary>
    /// <paramref name="knobs"/> as an objective offers them: a SimCLR objective compares two augmented views, so its runs
    /// refuse --no-augment and its help leaves the switch out.
    /// </summary>
    public static IReadOnlyList<DefenseKnob> ForObjective(IReadOnlyList<DefenseKnob> knobs, DefenseSettings s) =>
        s.SelfSupervised && !s.Clip ? [.. knobs.Where(k => k.Field != AugmentField)] : knobs;

    /// <summary><paramref name="d"/> with the curve knobs given (epochs, rate, batch size, augmentation).</summary>
    public static CurveOptions Curve(CurveOptions d, DefenseSettings s) => d with
    {
        Epochs = s.Integer(CurveEpochsField) ?? d.Epochs,
        LearningRate = s.Number(CurveLrField) ?? d.LearningRate,
        L2 = s.Number(CurveL2Field) ?? d.L2,
        BatchSize = s.Integer(BatchSizeField) ?? d.BatchSize,
        Augment = s.IsOn(AugmentField),
    };

    /// <summary><paramref name="d"/> with the fine-tuning knobs given (epochs, rate, batch size, augmentation).</summary>
    public static FineTuneOptions FineTune(FineTuneOptions d, DefenseSettings s) => d with
    {
        Epochs = s.Integer(FineTuneEpochsField) ?? d.Epochs,
        LearningRate = s.Number(FineTuneLrField) ?? d.LearningRate,
        BatchSize = s.Integer(BatchSizeField) ?? d.BatchSize,
        Augment = s.IsOn(AugmentField),
    };
}
