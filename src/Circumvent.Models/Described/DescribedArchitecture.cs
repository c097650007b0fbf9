using Circumvent.Engine;

namespace Circumvent.Models.Described;

/// <summary>
/// A network built from a <see cref="ModelDescription"/>: its tensors are the layers' state_dict
/// entries in description order, its forward runs the layers in order with the same layer helpers as
/// the built-in architectures (so activation probes, BN statistics and the fused BN + ReLU behave alike).
/// Inputs must have exactly the described (C, H, W).
/// </summary>
public sealed class DescribedArchitecture : ArchitectureBase
{
    private readonly ModelDescription _description;

    public DescribedArchitecture(ModelDescription description)
        : base(description.ToConfig(), DescriptionShapes.Tensors(description, description.Name)) => _description = description;

    public ModelDescription Description => _description;

    protected override bool FixedInputSize => true;

    /// <summary>The described size is checked exactly, so no pooling minimum applies on top.</summary>
    public override int MinimumInputSize => 1;

    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext ctx) => Run(_description.Layers, p, x, ctx);

    private static Tensor Run(IReadOnlyList<LayerDescription> layers, ParameterSet p, Tensor x, ForwardContext ctx)
    {
        for (int i = 0; i < layers.Count; i++)
        {
            // BN directly followed by ReLU runs as the fused op, as in the built-in networks.
            if (layers[i] is BatchNormLayer bn && i + 1 < layers.Count && layers[i + 1] is ActivationLayer { Activation: ActivationKind.Relu })
            {
                x = Layers.BatchNormRelu(p, bn.Name, x, ctx);
                i++;
                continue;
            }
            x = Step(layers[i], p, x, ctx);
        }
        return x;
    }

    private static Tensor Step(LayerDescription layer, ParameterSet p, Tensor x, ForwardContext ctx) => layer switch
    {
        Conv2dLayer c => Layers.Conv(p, c.Name, x, ctx, c.Stride, c.Padding, c.Bias),
        LinearLayer l => Layers.Linear(p, l.Name, x, ctx, l.Bias),
        BatchNormLayer b => Layers.BatchNorm(p, b.Name, x, ctx),
        ActivationLayer a => Activate(a, x),
        PoolLayer { Max: true } m => Op.MaxPool2d(x, m.Kernel, m.Stride, m.Padding),
        PoolLayer a => Op.AvgPool2d(x, a.Kernel, a.Stride, a.Padding),
        AdaptiveAvgPoolLayer a => Op.AdaptiveAvgPool2d(x, a.OutHeight, a.OutWidth),
        GlobalAvgPoolLayer => Op.GlobalAvgPool(x),
        FlattenLayer => Op.Flatten(x),
        DropoutLayer d => Op.Dropout(x, d.P, ctx.Training, ctx.Rng),
        SoftmaxLayer => Op.Softmax(x, axis: 1),
        ResidualLayer r => Residual(r, p, x, ctx),
        _ => throw new InvalidOperationException($"No forward for layer type '{layer.Kind}' at {layer.Path}."),
    };

    /// <summary>activation(body(x) + shortcut(x)).</summary>
    private static Tensor Residual(ResidualLayer r, ParameterSet p, Tensor x, ForwardContext ctx)
    {
        var body = Run(r.Body, p, x, ctx);
        var shortcut = r.Shortcut is null ? x : Run(r.Shortcut, p, x, ctx);
        var sum = Op.Add(body, shortcut);
        return r.Activation is null ? sum : Activate(r.Activation, sum);
    }

    private static Tensor Activate(ActivationLayer a, Tensor x) => a.Activation switch
    {
        ActivationKind.Relu => Op.Relu(x),
        ActivationKind.Sigmoid => Op.Sigmoid(x),
        ActivationKind.Tanh => Op.Tanh(x),
        // leaky_relu(x) = relu(x) − slope·relu(−x), composed from differentiable ops.
        _ => Op.Sub(Op.Relu(x), Op.MulScalar(Op.Relu(Op.Neg(x)), a.NegativeSlope)),
    };
}
