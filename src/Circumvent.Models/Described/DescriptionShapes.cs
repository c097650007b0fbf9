using Circumvent.Engine;

namespace Circumvent.Models.Described;

/// <summary>
/// Walks a description with the per-sample shape of the activation — (C, H, W) for maps, (F) for
/// features — checking that every layer accepts what the previous one gives, and collects the tensors
/// the layers own in forward order (PyTorch's state_dict order for a Sequential). Sizes are computed in
/// 64 bits and every activation and tensor must hold at most <see cref="MaxElements"/> values, so an
/// absurd size in a description is an error here rather than an overflow or an allocation failure later.
/// </summary>
internal static class DescriptionShapes
{
    /// <summary>Circumvent's tensors are indexed with int.</summary>
    public const long MaxElements = int.MaxValue;

    /// <summary>Throws a <see cref="DescriptionException"/> at the first layer that does not fit.</summary>
    public static void Check(ModelDescription description, string source) => Tensors(description, source);

    public static SpecBuilder Tensors(ModelDescription d, string source)
    {
        var walk = new Walk(source);
        var output = walk.Run(d.Layers, [d.InChannels, d.Height, d.Width]);
        if (output.Length != 1 || output[0] != d.Classes)
            throw new DescriptionException(source, "$.layers",
                $"the network ends with shape {Format(output)} but must give (N, {d.Classes}) logits for {d.Classes} classes.");
        return walk.Specs;
    }

    /// <summary>(N, 64, 8, 8) / (N, 10) for messages.</summary>
    public static string Format(int[] shape) => "(N, " + string.Join(", ", shape) + ")";

    private sealed class Walk(string source)
    {
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);

        public SpecBuilder Specs { get; } = new();

        public int[] Run(IEnumerable<LayerDescription> layers, int[] shape)
        {
            foreach (var layer in layers)
            {
                shape = Step(layer, shape);
                long elements = shape.Aggregate(1L, (a, b) => Math.Min(a * b, MaxElements + 1));
                Require(layer, elements <= MaxElements, $"gives {Format(shape)}, more than {MaxElements:N0} values per sample.");
            }
            return shape;
        }

        private int[] Step(LayerDescription layer, int[] x)
        {
            switch (layer)
            {
                case Conv2dLayer c:
                {
                    RequireMap(c, x);
                    Require(c, x[0] == c.InChannels, $"expects {c.InChannels} input channels but receives {Format(x)}.");
                    int h = Out(c, x[1], c.Kernel, c.Stride, c.Padding), w = Out(c, x[2], c.Kernel, c.Stride, c.Padding);
                    Name(c, c.Name);
                    RequireTensor(c, (long)c.OutChannels * c.InChannels * c.Kernel * c.Kernel);
                    Specs.Conv(c.Name, c.InChannels, c.OutChannels, c.Kernel, c.Bias);
                    return [c.OutChannels, h, w];
                }
                case LinearLayer l:
                {
                    Require(l, x.Length == 1, $"needs (N, features) input but receives {Format(x)}; put a flatten or global_avgpool before it.");
                    Require(l, x[0] == l.InFeatures, $"expects {l.InFeatures} input features but receives {Format(x)}.");
                    Name(l, l.Name);
                    RequireTensor(l, (long)l.OutFeatures * l.InFeatures);
                    Specs.Linear(l.Name, l.InFeatures, l.OutFeatures, l.Bias);
                    return [l.OutFeatures];
                }
                case BatchNormLayer b:
                {
                    if (b.TwoD) RequireMap(b, x);
                    else Require(b, x.Length == 1, $"needs (N, features) input but receives {Format(x)}; use batchnorm2d on maps.");
                    Require(b, x[0] == b.Features, $"normalises {b.Features} channels but receives {Format(x)}.");
                    Name(b, b.Name);
                    Specs.BatchNorm(b.Name, b.Features);
                    return x;
                }
                case PoolLayer p:
                    RequireMap(p, x);
                    return [x[0], Out(p, x[1], p.Kernel, p.Stride, p.Padding), Out(p, x[2], p.Kernel, p.Stride, p.Padding)];
                case AdaptiveAvgPoolLayer a:
                    RequireMap(a, x);
                    return [x[0], a.OutHeight, a.OutWidth];
                case GlobalAvgPoolLayer g:
                    RequireMap(g, x);
                    return [x[0]];
                case FlattenLayer f:
                {
                    long features = x.Aggregate(1L, (a, b) => Math.Min(a * b, MaxElements + 1));
                    Require(f, features <= MaxElements, $"would give more than {MaxElements:N0} features from {Format(x)}.");
                    return [(int)features];
                }
                case ResidualLayer r:
                {
                    var body = Run(r.Body, x);
                    var shortcut = r.Shortcut is null ? x : Run(r.Shortcut, x);
                    Require(r, Shape.Equal(body, shortcut),
                        $"body gives {Format(body)} but the {(r.Shortcut is null ? "identity shortcut" : "shortcut")} gives {Format(shortcut)}; they must match to be summed.");
                    return body;
                }
                default: // activations, dropout, softmax: shape unchanged
                    return x;
            }
        }

        private void Name(LayerDescription layer, string name)
        {
            Require(layer, !name.StartsWith('.') && !name.EndsWith('.'), $"name '{name}' must not start or end with a dot.");
            Require(layer, _names.Add(name), $"name '{name}' is used by an earlier layer; every layer owns its own tensors.");
        }

        private int Out(LayerDescription layer, int size, int kernel, int stride, int padding)
        {
            long padded = size + 2L * padding;
            Require(layer, padded >= kernel, $"kernel {kernel} does not fit a {size}-pixel side with padding {padding}.");
            long side = (padded - kernel) / stride + 1;
            Require(layer, side <= MaxElements, $"gives a side of {side:N0} pixels from a {size}-pixel side with padding {padding}.");
            return (int)side;
        }

        private void RequireTensor(LayerDescription layer, long elements) =>
            Require(layer, elements <= MaxElements, $"would own a weight of {elements:N0} values, more than {MaxElements:N0}.");

        private void RequireMap(LayerDescription layer, int[] x) =>
            Require(layer, x.Length == 3, $"needs a (N, C, H, W) map but receives {Format(x)}.");

        private void Require(LayerDescription layer, bool ok, string problem)
        {
            if (!ok) throw new DescriptionException(source, layer.Path, $"{Label(layer)} {problem}");
        }

        private static string Label(LayerDescription layer) => layer switch
        {
            Conv2dLayer c => $"conv2d '{c.Name}'",
            LinearLayer l => $"linear '{l.Name}'",
            BatchNormLayer b => $"{b.Kind} '{b.Name}'",
            _ => layer.Kind,
        };
    }
}
