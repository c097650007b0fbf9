using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// The encoder–decoder InputAware (Nguyen &amp; Tran 2020) uses for both its trigger generator G and its
/// mask network M, with the published module names (PyTorch nn.Sequential keys, so a state_dict lines
/// up with the authors' `Generator`). Every block is conv 3×3 pad 1 (with bias) → BN → ReLU:
/// <code>
/// down:   per step s: convblock_down_{2s} (c → w·2^s), convblock_down_{2s+1} (same), 2×2 max pool
/// middle: convblock_middle
/// up:     per step s: ×2 bilinear upsampling, convblock_up_{2s} (c → c), convblock_up_{2s+1} (c → c/2;
///         the last step's → out channels, BN but no ReLU)
/// </code>
/// The published sizes: 3 steps from 32 channels for CIFAR-10/GTSRB, 2 steps from 16 for MNIST
/// (<see cref="ForImages"/>). <see cref="Forward"/> returns the raw map before InputAware's tanh.
/// </summary>
public sealed class TriggerGenerator
{
    private readonly IReadOnlyList<InitRule> _rules;
    private readonly List<Stage> _stages = [];

    /// <summary>One entry of the sequential network: a conv block (with or without ReLU), a pool or an upsampling.</summary>
    private readonly record struct Stage(string? Block, bool Relu, bool Pool, bool Upsample);

    public TriggerGenerator(int inChannels, int outChannels, int steps, int baseChannels)
    {
        if (inChannels < 1 || outChannels < 1) throw new ArgumentException($"TriggerGenerator: channels must be ≥ 1, got in {inChannels}, out {outChannels}.");
        if (steps < 1) throw new ArgumentException($"TriggerGenerator: needs at least one down/up step, got {steps}.");
        if (baseChannels < 1) throw new ArgumentException($"TriggerGenerator: base channels must be ≥ 1, got {baseChannels}.");
        InChannels = inChannels;
        OutChannels = outChannels;
        Steps = steps;
        BaseChannels = baseChannels;

        var b = new SpecBuilder();
        void Block(string name, int from, int to, bool relu = true)
        {
            b.Conv($"{name}.conv2d", from, to, 3, bias: true);
            b.BatchNorm($"{name}.batch_norm", to);
            _stages.Add(new Stage(name, relu, false, false));
        }
        int current = inChannels, next = baseChannels;
        for (int step = 0; step < steps; step++)
        {
            Block($"convblock_down_{2 * step}", current, next);
            Block($"convblock_down_{2 * step + 1}", next, next);
            _stages.Add(new Stage(null, false, Pool: true, false));
            current = next;
            if (step < steps - 1) next *= 2;
        }
        Block("convblock_middle", current, current);
        for (int step = 0; step < steps; step++)
        {
            bool last = step == steps - 1;
            int to = last ? outChannels : current / 2;
            _stages.Add(new Stage(null, false, false, Upsample: true));
            Block($"convblock_up_{2 * step}", current, current);
            Block($"convblock_up_{2 * step + 1}", current, to, relu: !last);
            current = to;
        }
        Tensors = b.Specs;
        _rules = b.Rules;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Steps { get; }
    public int BaseChannels { get; }

    /// <summary>state_dict entries in registration order.</summary>
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>Height and width must be multiples of this (each step halves them, then doubles them back).</summary>
    public int SizeMultiple => 1 << Steps;

    /// <summary>
    /// The published configuration for images of this size: 3 steps from 32 channels when H and W are
    /// multiples of 8 (CIFAR-10), otherwise 2 steps from 16 when they are multiples of 4 (28×28 MNIST).
    /// </summary>
    /// <exception cref="ArgumentException">H or W is not a multiple of 4.</exception>
    public static TriggerGenerator ForImages(int channels, int height, int width, int outChannels)
    {
        if (height % 8 == 0 && width % 8 == 0) return new TriggerGenerator(channels, outChannels, 3, 32);
        if (height % 4 == 0 && width % 4 == 0) return new TriggerGenerator(channels, outChannels, 2, 16);
        throw new ArgumentException($"input-aware: the generator halves the image twice and doubles it back, so H and W must be multiples of 4; got {height}×{width}.");
    }

    /// <summary>PyTorch-default initialisation (as <see cref="ArchitectureBase.Initialize"/>).</summary>
    public ParameterSet Initialize(Random rng) => InitRule.Draw(Tensors, _rules, rng);

    /// <summary>x (N, in, H, W) → (N, out, H, W), before any tanh; BN in the context's mode.</summary>
    public Tensor Forward(ParameterSet p, Tensor x, ForwardContext ctx)
    {
        if (x.Rank != 4 || x.Shape[1] != InChannels || x.Shape[2] % SizeMultiple != 0 || x.Shape[3] % SizeMultiple != 0)
            throw new ArgumentException($"TriggerGenerator: expected input (N, {InChannels}, H, W) with H and W multiples of {SizeMultiple}, got {Shape.Format(x.Shape)}.");
        var h = x;
        foreach (var stage in _stages)
        {
            if (stage.Pool) h = Op.MaxPool2d(h, 2, 2);
            else if (stage.Upsample) h = Op.ResizeBilinear(h, 2 * h.Shape[2], 2 * h.Shape[3], alignCorners: false);
            else
            {
                var conv = Layers.Conv(p, stage.Block + ".conv2d", h, ctx, padding: 1, bias: true);
                h = stage.Relu ? Layers.BatchNormRelu(p, stage.Block + ".batch_norm", conv, ctx) : Layers.BatchNorm(p, stage.Block + ".batch_norm", conv, ctx);
            }
        }
        return h;
    }
}
