using Circumvent.Models;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Models.PyTorch;

/// <summary>The real PyTorch checkpoints of Fixtures/pth (tools/fixtures/make_checkpoint_fixtures.py) and the architecture each holds.</summary>
public static class PthFixtures
{
    public static readonly IReadOnlyDictionary<string, ArchitectureConfig> Checkpoints = new Dictionary<string, ArchitectureConfig>
    {
        ["preact_resnet18_backdoorbench"] = new("preact-resnet18", 3, 32, 32, 10, 0.0625),
        ["vgg11_bn"] = new("vgg11", 3, 32, 32, 10, 0.0625),
        ["vgg11_dataparallel"] = new("vgg11", 1, 32, 32, 7, 0.0625),
        ["preact_resnet18_wrapped"] = new("preact-resnet18", 3, 32, 32, 10, 0.0625),
        ["preact_resnet18_fp16"] = new("preact-resnet18", 3, 32, 32, 10, 0.0625),
        ["mlp_noncontiguous"] = new("mlp", 3, 8, 8, 10, 0.0625),
        ["airnet_airbench"] = new("airnet", 3, 32, 32, 10, 0.0625),
    };

    public static IEnumerable<object[]> Names => Checkpoints.Keys.Select(k => new object[] { k });

    public static string PathOf(string name) => TestData.FixturePath("pth", name + ".pth");

    public static SafetensorsFixture ExpectedLogits() => SafetensorsFixture.Load(Path.Combine("pth", "expected_logits.safetensors"));
}
