using Circumvent.Engine;

namespace Circumvent.Models;

/// <summary>
/// mlp: flatten → fc1 (C·H·W → h) → relu → fc2 (h → h) → relu → fc3 (h → classes), h = round(512·width).
/// </summary>
public sealed class Mlp : ArchitectureBase
{
    public Mlp(ArchitectureConfig config) : base(config, Build(config)) { }

    protected override bool FixedInputSize => true;

    private static SpecBuilder Build(ArchitectureConfig c)
    {
        int hidden = Layers.Scale(512, c.WidthMultiplier);
        var b = new SpecBuilder();
        b.Linear("fc1", c.InChannels * c.Height * c.Width, hidden);
        b.Linear("fc2", hidden, hidden);
        b.Linear("fc3", hidden, c.Classes);
        return b;
    }

    protected override Tensor ForwardCore(ParameterSet p, Tensor x, ForwardContext context)
    {
        var h = Op.Relu(Layers.Linear(p, "fc1", Op.Flatten(x), context));
        h = Op.Relu(Layers.Linear(p, "fc2", h, context));
        return Layers.Linear(p, "fc3", h, context);
    }
}
