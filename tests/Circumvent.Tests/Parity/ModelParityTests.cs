using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Parity;

/// <summary>
/// Whole networks against PyTorch (Fixtures/preact_resnet18_w0125, vgg11_bn_w0125, airnet_w0125, resnet18_w0125 — the
/// post-activation CIFAR ResNet-18 of the SimCLR encoders): state_dict
/// layout, eval and train logits, CE loss, the gradient of every parameter, and the running
/// statistics after one train-mode forward at the fixture's BN momentum (0.1; airnet 0.4, airbench's).
/// </summary>
public class ModelParityTests
{
    public static TheoryData<string, string, double> Networks => new()
    {
        { "preact_resnet18_w0125.safetensors", "preact-resnet18", 0.125 },
        { "vgg11_bn_w0125.safetensors", "vgg11", 0.125 },
        { "airnet_w0125.safetensors", "airnet", 0.125 },
        { "resnet18_w0125.safetensors", "resnet18", 0.125 },
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void StateDictLayoutMatchesPyTorch(string file, string arch, double width)
    {
        var fx = SafetensorsFixture.Load(file);
        var model = Architectures.Create(new ArchitectureConfig(arch, 3, 32, 32, 10, width));
        var torchKeys = fx.Metadata["state_dict_keys"].Split(',');
        Assert.Equal(torchKeys, model.Tensors.Select(t => t.Name).ToArray());
        foreach (var spec in model.Tensors)
            Assert.True(Shape.Equal(spec.Shape, fx.ShapeOf(spec.Name)),
                $"{arch} {spec.Name}: ours {Shape.Format(spec.Shape)}, torch {Shape.Format(fx.ShapeOf(spec.Name))}.");
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void EvalLogitsMatchPyTorch(string file, string arch, double width)
    {
        var fx = SafetensorsFixture.Load(file);
        var (model, parameters) = Load(fx, arch, width);
        var logits = model.Forward(parameters, fx.F32("input"), ForwardContext.Eval());
        Parity.Close($"{arch} eval logits", logits, fx.F32("logits_eval"));
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void TrainStepMatchesPyTorch(string file, string arch, double width)
    {
        var fx = SafetensorsFixture.Load(file);
        var (model, parameters) = Load(fx, arch, width);
        // The updater writes into a separate copy, so the forward itself sees the stored buffers.
        var updated = parameters.Clone();
        var updater = new RunningStatsUpdater(updated, momentum: float.Parse(fx.Metadata["bn_momentum"], System.Globalization.CultureInfo.InvariantCulture));

        var logits = model.Forward(parameters, fx.F32("input"), ForwardContext.Train(updater, new Random(0)));
        Parity.Close($"{arch} train logits", logits, fx.F32("logits_train"));

        var loss = Op.CrossEntropy(logits, fx.Labels("labels"));
        Parity.Close($"{arch} loss", loss.Span, fx.F32("loss").Span);

        loss.Backward();
        foreach (var p in parameters.Parameters)
            Parity.Close($"{arch} grad {p.Name}", p.Tensor.Grad, fx.F32("grad." + p.Name));

        foreach (var b in updated.Buffers)
            Parity.Close($"{arch} {b.Name} after one train forward", b.Tensor, fx.F32("running_after." + b.Name));
        int bnCount = updated.Buffers.Count(b => b.Name.EndsWith(".running_mean", StringComparison.Ordinal));
        Assert.Equal(bnCount, updater.BatchesTracked.Count);
        Assert.All(updater.BatchesTracked.Values, n => Assert.Equal(1L, n));
    }

    /// <summary>The fixture's state_dict as a ParameterSet in our spec order; parameters require gradients.</summary>
    internal static (IArchitecture Model, ParameterSet Parameters) Load(SafetensorsFixture fx, string arch, double width)
    {
        var model = Architectures.Create(new ArchitectureConfig(arch, 3, 32, 32, 10, width));
        var parameters = new ParameterSet();
        foreach (var spec in model.Tensors)
            parameters.Add(spec.Name, fx.F32(spec.Name, requiresGrad: spec.Role == TensorRole.Parameter), spec.Role);
        return (model, parameters);
    }
}
