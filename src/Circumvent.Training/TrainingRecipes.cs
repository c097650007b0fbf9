namespace Circumvent.Training;

/// <summary>
/// Named presets of <see cref="TrainingConfig"/> (`train --recipe NAME`): every value of a published recipe, each
/// still overridable, all recorded in the checkpoint's config like any other setting.
/// </summary>
public static class TrainingRecipes
{
    public const string Airbench = "airbench";
    public static readonly string[] Names = [Airbench];

    /// <summary>The recipe <paramref name="name"/> on top of <paramref name="baseline"/> (data, architecture, seed… are kept).</summary>
    public static TrainingConfig Apply(string name, TrainingConfig baseline, int? batchSize = null, double? momentum = null) => name switch
    {
        Airbench => AirbenchRecipe(baseline, batchSize ?? 1024, momentum ?? 0.85),
        _ => throw new ArgumentException($"--recipe must be one of {string.Join(", ", Names)}, got '{name}'."),
    };

    /// <summary>
    /// airbench94 (Keller Jordan's cifar10-airbench): 9.9 epochs at batch 1024, Nesterov SGD at momentum 0.85, label
    /// smoothing 0.2, the triangle 0.2 → 1 at 23% → 0.07, BN biases at 64× the rate, BN scales and the whitening conv
    /// frozen (its bias after 3 epochs), BN momentum 0.4 (PyTorch's convention), lookahead every 5 steps at 0.95,
    /// reflect-padded ±2 translation with the alternating flip, TTA level 2.
    /// </summary>
    /// <remarks>
    /// airbench sums the loss over the batch and writes its rates per 1024 examples, divided by the Nesterov gain
    /// k = 1 + 1/(1 − μ): lr_sum = 11.5/(1024·k), and a decay of 0.0153·B/(1024·k) per step. We keep the mean loss,
    /// whose gradient is the sum's divided by B, so the same SGD update takes lr = B·lr_sum = 11.5·B/(1024·k)
    /// (1.5 at B = 1024, μ = 0.85) and weight decay wd = 0.0153/11.5 (lr·wd is airbench's decay per step);
    /// momentum buffers then hold the sum's ÷ B, which the larger lr cancels. Hence lr follows the batch size and
    /// momentum the recipe is given.
    /// </remarks>
    private static TrainingConfig AirbenchRecipe(TrainingConfig c, int batchSize, double momentum) => c with
    {
        Recipe = Airbench,
        Epochs = 9.9,
        BatchSize = batchSize,
        Optimizer = "sgd",
        Momentum = momentum,
        Nesterov = true,
        LearningRate = 11.5 * batchSize / (1024 * (1 + 1 / (1 - momentum))),
        WeightDecay = 0.0153 / 11.5,
        Schedule = "triangle",
        Triangle = [0.2, 0.23, 0.07],
        WarmupEpochs = 0,
        LabelSmoothing = 0.2,
        Augment = true,
        Translate = 2,
        Flip = "alternate",
        WhitenInit = true,
        Freeze = ["0.weight", "0.bias@3", "*.norm*.weight"],
        LearningRateScales = ["*.norm*.bias=64"],
        BatchNormMomentum = 0.4,
        LookaheadEvery = 5,
        LookaheadDecay = Lookahead.DefaultDecay,
        TtaLevel = 2,
    };
}
