using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Method.Curves;
using Circumvent.Method.Defenses.Pam;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Models;
using Circumvent.Tests.Support;
using Circumvent.Training;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>
/// PAM's parts against PyTorch itself (python3-torch), each rebuilt there from docs/defences-and-robustness.md §3.4 and
/// the U-Net's description: the U-Net's forward with nn.ConvTranspose2d and nn.InstanceNorm2d(affine), and two steps of
/// PAM's unlearning on a BN network in training mode (v from the backdoored weights' parameters, θ + ρ·v/‖v‖ for the
/// forward and backward, θ restored, SGD lr 0.01 momentum 0.1), so the BN statistics' update at the shifted point and the
/// momentum are checked too. Skipped, with the reason, when /usr/bin/python3 cannot import torch.
/// </summary>
public class PamTorchParityTests : IDisposable
{
    private readonly SafeTensorsFiles _files = new();

    public void Dispose() => _files.Dispose();

    private const string Script = TorchParityScript.Definitions + """


class UBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm1 = nn.InstanceNorm2d(cout, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = nn.InstanceNorm2d(cout, affine=True)
    def forward(self, x):
        x = F.leaky_relu(self.norm1(self.conv1(x)), 0.01)
        return F.leaky_relu(self.norm2(self.conv2(x)), 0.01)

class UNet(nn.Module):
    def __init__(self, channels, blocks, width):
        super().__init__()
        self.blocks = blocks
        depths = [min(width * 2 ** i, 512) for i in range(blocks)]
        prev = channels
        for i, d in enumerate(depths):
            setattr(self, f"down{i}", UBlock(prev, d))
            prev = d
        self.bottleneck = UBlock(prev, 2 * prev)
        prev = 2 * prev
        for i in range(blocks):
            skip = depths[blocks - 1 - i]
            up = UBlock(prev + skip, skip)
            up.upsample = nn.ConvTranspose2d(prev, prev, 3, stride=2, padding=1, output_padding=1)
            setattr(self, f"up{i}", up)
            prev = skip
        self.output = nn.Conv2d(prev, channels, 1)
    def forward(self, x):
        skips = []
        for i in range(self.blocks):
            x = getattr(self, f"down{i}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for i in range(self.blocks):
            up = getattr(self, f"up{i}")
            x = up(torch.cat([F.leaky_relu(up.upsample(x), 0.01), skips[self.blocks - 1 - i]], 1))
        return self.output(x)

def unet(args):
    channels, blocks, width, weights, inp, outp = int(args[0]), int(args[1]), int(args[2]), args[3], args[4], args[5]
    state = read_safetensors(weights)
    for name in list(state):
        if name.endswith("upsample.weight"):
            # ours: the equivalent convolution's (out, in, 3, 3); torch's transposed layer: (in, out, 3, 3), flipped.
            state[name] = state[name].flip(2, 3).transpose(0, 1).contiguous()
    net = UNet(channels, blocks, width).double()
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        y = net(read_safetensors(inp)["x"].double())
    write_safetensors(outp, {"y": y})

def pam(args):
    width, classes, start, backdoored, data, outp, rho, steps = float(args[0]), int(args[1]), args[2], args[3], args[4], args[5], float(args[6]), int(args[7])
    batch = read_safetensors(data)
    x, y = batch["x"].double(), batch["y"].long()
    net = Net(False, width, classes, x.shape[1]).double()
    net.load_state_dict(read_safetensors(start), strict=True)
    bd = Net(False, width, classes, x.shape[1]).double()
    bd.load_state_dict(read_safetensors(backdoored), strict=True)
    sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.1)
    net.train()
    for _ in range(steps):
        with torch.no_grad():
            v = [b - p for p, b in zip(net.parameters(), bd.parameters())]
            norm = torch.sqrt(sum((d * d).sum() for d in v))
            kept = [p.clone() for p in net.parameters()]
            for p, d in zip(net.parameters(), v):
                p.add_(d * (rho / (norm + 1e-12)))
        sgd.zero_grad()
        F.cross_entropy(net(x), y).backward()
        with torch.no_grad():
            for p, k in zip(net.parameters(), kept):
                p.copy_(k)
        sgd.step()
    write_safetensors(outp, {k: t for k, t in net.state_dict().items() if not k.endswith("num_batches_tracked")})

{"unet": unet, "pam": pam}[sys.argv[1]](sys.argv[2:])
""";

    private string WriteScript()
    {
        var path = _files.PathOf("pam_parity.py");
        File.WriteAllText(path, Script);
        return path;
    }

    private static void SkipWithoutTorch()
    {
        if (!TorchParityTests.TorchAvailable(out var why)) throw new SkipException(why);
    }

    private static void AssertClose(float[] expected, float[] actual, string what, float tolerance = 1e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = Math.Max(1f, expected.Max(MathF.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= tolerance * scale, $"{what}[{i}]: torch {expected[i]}, ours {actual[i]}");
    }

    private void Save(string name, ParameterSet set) =>
        SafeTensorsWriter.Write(_files.PathOf(name), [.. set.Select(e => SafeTensor.FromFloats(e.Name, e.Tensor.Shape, e.Tensor.ToArray()))]);

    [SkippableFact]
    public void TheUNetIsTheAuthorsUNetInPyTorch()
    {
        SkipWithoutTorch();
        var unet = new UNet(3, 2, 4);
        var weights = unet.Initialize(new Random(5));
        var rng = new Random(6);
        // Instance norms away from γ = 1, β = 0, so their affine part counts.
        foreach (var e in weights.Where(e => e.Name.Contains(".norm")))
        {
            var s = e.Tensor.Span;
            for (int i = 0; i < s.Length; i++) s[i] = e.Name.EndsWith(".weight") ? 0.5f + (float)rng.NextDouble() : (float)rng.NextDouble() - 0.5f;
        }
        var x = Tensor.Randn(new Random(7), 2, 3, 8, 8);
        Save("unet.safetensors", weights);
        SafeTensorsWriter.Write(_files.PathOf("x.safetensors"), [SafeTensor.FromFloats("x", x.Shape, x.ToArray())]);

        TorchParityTests.Run(WriteScript(), "unet", "3", "2", "4", _files.PathOf("unet.safetensors"), _files.PathOf("x.safetensors"), _files.PathOf("y.safetensors"));
        var torch = SafeTensorsReader.Read(_files.PathOf("y.safetensors")).Tensors.Single(t => t.Name == "y");
        Assert.Equal([2, 3, 8, 8], torch.Shape);
        AssertClose(torch.Floats!, BackdoorGenerator.Generate(unet, weights, x).ToArray(), "G(x)");
    }

    /// <summary>
    /// From θ ≠ θ_bd (so v ≠ 0 at the first step), two full-batch steps of the defence's unlearning on a width-⅛ ResNet-18
    /// in training mode: every parameter and BN running statistic as PyTorch's PAM leaves them.
    /// </summary>
    [SkippableFact]
    public void TwoPamStepsOnABatchNormNetworkAreTheAuthorsStepInPyTorch()
    {
        SkipWithoutTorch();
        var config = new ArchitectureConfig("resnet18", 3, 8, 8, 6, 0.125);
        var arch = Architectures.Create(config);
        var backdoored = TestData.WithRandomRunningStatistics(arch.Initialize(new Random(11)), new Random(12));
        var start = backdoored.Clone();
        var rng = new Random(13);
        foreach (var e in start.Parameters)
        {
            var s = e.Tensor.Span;
            for (int i = 0; i < s.Length; i++) s[i] += 0.02f * (float)(rng.NextDouble() - 0.5);
        }
        const int n = 8;
        var pixels = new byte[n * 3 * 8 * 8];
        rng.NextBytes(pixels);
        var clean = new ImageDataset(pixels, [0, 1, 2, 3, 4, 5, 0, 1], 3, 8, 8, [.. Enumerable.Range(0, 6).Select(c => $"c{c}")]);
        var normalization = Normalization.Identity(3);

        var options = new PamOptions().Unlearning with { Epochs = 2, BatchSize = n, Augment = false };
        var tuned = FineTuner.Run(arch, start, clean, normalization, options, new PathAwareObjective(new SupervisedObjective(0), backdoored, rho: 0.5));

        using (var batch = new BatchLoader(clean, normalization, BatchLoaderOptions.Evaluation(n)).Epoch(0).First())
            SafeTensorsWriter.Write(_files.PathOf("batch.safetensors"),
                [SafeTensor.FromFloats("x", batch.Images.Shape, batch.Images.ToArray()), SafeTensor.FromFloats("y", [n], [.. batch.Labels.Select(l => (float)l)])]);
        new ModelCheckpoint { Architecture = config, Parameters = start }.Save(_files.PathOf("start.safetensors"));
        new ModelCheckpoint { Architecture = config, Parameters = backdoored }.Save(_files.PathOf("backdoored.safetensors"));

        TorchParityTests.Run(WriteScript(), "pam", "0.125", "6", _files.PathOf("start.safetensors"), _files.PathOf("backdoored.safetensors"),
            _files.PathOf("batch.safetensors"), _files.PathOf("torch.safetensors"), "0.5", "2");
        var torch = SafeTensorsReader.Read(_files.PathOf("torch.safetensors")).Tensors.ToDictionary(t => t.Name);
        foreach (var e in tuned.Where(e => torch.ContainsKey(e.Name)))
            AssertClose(torch[e.Name].Floats!, e.Tensor.ToArray(), e.Name);
        Assert.Equal(tuned.Parameters.Count() + tuned.Buffers.Count(b => b.Name.EndsWith("running_mean") || b.Name.EndsWith("running_var")),
            tuned.Count(e => torch.ContainsKey(e.Name)));
        Assert.NotEqual(start["conv1.weight"].ToArray(), tuned["conv1.weight"].ToArray());
    }
}
