namespace Circumvent.Models;

/// <summary>Registry of the built-in networks by name.</summary>
public static class Architectures
{
    private static readonly Dictionary<string, Func<ArchitectureConfig, IArchitecture>> Factories = new(StringComparer.Ordinal)
    {
        ["mlp"] = c => new Mlp(c),
        ["cnn-small"] = c => new CnnSmall(c),
        ["vgg11"] = c => new Vgg(c),
        ["vgg16"] = c => new Vgg(c),
        ["vgg19"] = c => new Vgg(c),
        ["preact-resnet18"] = c => new PreActResNet18(c),
        ["resnet18"] = c => new ResNet18(c),
        ["airnet"] = c => new AirNet(c),
    };

    /// <summary>Every registered name, in a stable order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Factories.Keys];

    /// <summary>
    /// Smallest input height/width a network's pooling stages accept: cnn-small halves three times
    /// (≥ 8 leaves a 1×1 map), VGG five times (≥ 32), airnet a 2×2 conv then three times (≥ 9); the others reduce with strided padded convs
    /// and adaptive pooling, so any size works.
    /// </summary>
    public static int MinimumInputSize(string name) => name switch
    {
        "cnn-small" => 8,
        "vgg11" or "vgg16" or "vgg19" => 32,
        "airnet" => 9,
        _ => 1,
    };

    /// <summary>Builds the network <paramref name="config"/> names after checking the config is usable.</summary>
    public static IArchitecture Create(ArchitectureConfig config)
    {
        if (config.Description is { } description)
        {
            var described = new Described.DescribedArchitecture(description);
            if (described.Config with { Description = null } != config with { Description = null })
                throw new ArgumentException(
                    $"{config.Name}: the config ({config.InChannels}×{config.Height}×{config.Width}, {config.Classes} classes, width {config.WidthMultiplier}) " +
                    $"does not agree with its description ({description.InChannels}×{description.Height}×{description.Width}, {description.Classes} classes, width 1).");
            return described;
        }
        if (!Factories.TryGetValue(config.Name, out var factory))
            throw new ArgumentException($"Unknown architecture '{config.Name}'. Known architectures: {string.Join(", ", Names)}.");
        Validate(config);
        return factory(config);
    }

    private static void Validate(ArchitectureConfig c)
    {
        if (c.InChannels < 1) throw new ArgumentException($"{c.Name}: input channels must be at least 1, got {c.InChannels}.");
        if (c.Classes < 1) throw new ArgumentException($"{c.Name}: classes must be at least 1, got {c.Classes}.");
        if (!(c.WidthMultiplier > 0) || double.IsInfinity(c.WidthMultiplier))
            throw new ArgumentException($"{c.Name}: width multiplier must be a positive number, got {c.WidthMultiplier}.");
        int min = MinimumInputSize(c.Name);
        if (c.Height < min || c.Width < min)
            throw new ArgumentException(
                $"{c.Name}: input {c.Height}×{c.Width} is too small; its pooling stages need at least {min}×{min}.");
    }
}
