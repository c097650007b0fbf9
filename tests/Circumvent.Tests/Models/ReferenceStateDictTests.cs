using System.Text.Json;
using Circumvent.Engine;
using Circumvent.Models;

namespace Circumvent.Tests.Models;

/// <summary>Our specs against the state_dicts PyTorch itself builds from the reference module definitions.</summary>
public class ReferenceStateDictTests
{
    [Theory]
    [InlineData("vgg11")]
    [InlineData("vgg16")]
    [InlineData("vgg19")]
    [InlineData("preact-resnet18")]
    [InlineData("resnet18")]
    public void KeysShapesAndOrderMatchPyTorch(string name)
    {
        using var doc = JsonDocument.Parse(ReferenceStateDicts.Json);
        var reference = doc.RootElement.GetProperty(name);
        var torchKeys = reference.GetProperty("keys").EnumerateArray()
            .Select(e => (Name: e[0].GetString()!, Shape: e[1].EnumerateArray().Select(d => d.GetInt32()).ToArray()))
            .Where(e => !e.Name.EndsWith(".num_batches_tracked"))
            .ToList();
        var ours = Architectures.Create(new ArchitectureConfig(name, 3, 32, 32, 10)).Tensors;

        Assert.Equal(torchKeys.Select(k => k.Name), ours.Select(t => t.Name));
        foreach (var (key, spec) in torchKeys.Zip(ours))
            Assert.True(Shape.Equal(key.Shape, spec.Shape), $"{key.Name}: torch {Shape.Format(key.Shape)}, ours {Shape.Format(spec.Shape)}");
        Assert.Equal(reference.GetProperty("params").GetInt64(),
            ours.Where(t => t.Role == TensorRole.Parameter).Sum(t => (long)Shape.Size(t.Shape)));
    }
}
