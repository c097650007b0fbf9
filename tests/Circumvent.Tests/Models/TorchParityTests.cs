using System.Diagnostics;
using Circumvent.Engine;
using Circumvent.Engine.Autograd;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Xunit.Abstractions;

namespace Circumvent.Tests.Models;

/// <summary>
/// Our checkpoints and forwards against PyTorch itself (python3-torch): strict state_dict loading,
/// eval and train logits, and momentum-updated BN buffers. Skipped, with a logged reason, when
/// /usr/bin/python3 cannot import torch.
/// </summary>
public class TorchParityTests : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private readonly SafeTensorsFiles _files = new();

    public void Dispose() => _files.Dispose();

    [SkippableTheory]
    [InlineData("preact-resnet18", 3, 0.125)]
    [InlineData("resnet18", 1, 0.125)]
    public void MatchesPyTorch(string name, int channels, double width)
    {
        if (!TorchAvailable(out var why))
        {
            throw new SkipException($"{why}");
        }
        var config = new ArchitectureConfig(name, channels, 20, 20, 6, width);
        var arch = Architectures.Create(config);
        var p = arch.Initialize(new Random(11));
        RandomizeBatchNorm(p, new Random(12));
        var checkpoint = _files.PathOf("model.safetensors");
        new ModelCheckpoint { Architecture = config, Parameters = p }.Save(checkpoint);
        var x = Tensor.Randn(new Random(13), 4, channels, 20, 20);
        var input = _files.PathOf("input.safetensors");
        SafeTensorsWriter.Write(input, [SafeTensor.FromFloats("x", x.Shape, x.ToArray())]);
        var result = _files.PathOf("torch.safetensors");

        Run(WriteScript(), name, width.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "6", checkpoint, input, result);
        var torch = SafeTensorsReader.Read(result).Tensors.ToDictionary(t => t.Name);

        using (GradMode.Disable())
        {
            AssertClose(torch["eval_logits"].Floats!, arch.Forward(p, x, ForwardContext.Eval()).ToArray(), "eval logits");
            var updater = new RunningStatsUpdater(p);
            AssertClose(torch["train_logits"].Floats!, arch.Forward(p, x, ForwardContext.Train(updater, new Random(0))).ToArray(), "train logits");
        }
        foreach (var buffer in p.Buffers)
            AssertClose(torch[buffer.Name].Floats!, buffer.Tensor.ToArray(), buffer.Name);
    }

    /// <summary>Non-trivial γ, β and running statistics so eval mode differs from a fresh network.</summary>
    private static void RandomizeBatchNorm(ParameterSet p, Random rng)
    {
        foreach (var e in p.Where(e => e.Name.Contains("bn") || e.Name.Contains("shortcut.1")))
        {
            if (e.Tensor.Rank != 1) continue;
            var s = e.Tensor.Span;
            for (int i = 0; i < s.Length; i++)
                s[i] = e.Name.EndsWith("running_var") || e.Name.EndsWith(".weight") ? 0.5f + (float)rng.NextDouble() : (float)rng.NextDouble() - 0.5f;
        }
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = Math.Max(1f, expected.Max(MathF.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-4f * scale,
                $"{what}[{i}]: torch {expected[i]}, ours {actual[i]}");
    }

    private string WriteScript()
    {
        var path = _files.PathOf("parity.py");
        File.WriteAllText(path, TorchParityScript.Source);
        return path;
    }

    internal static bool TorchAvailable(out string why)
    {
        why = "";
        if (!File.Exists(Python)) { why = $"{Python} not found"; return false; }
        var (code, _, err) = Exec("-c \"import torch\"");
        if (code != 0) { why = $"python cannot import torch: {err.Trim()}"; return false; }
        return true;
    }

    internal static void Run(params string[] args)
    {
        var (code, stdout, stderr) = Exec(string.Join(" ", args.Select(a => $"\"{a}\"")));
        Assert.True(code == 0, $"python failed ({code}):\n{stdout}\n{stderr}");
    }

    private static (int Code, string Stdout, string Stderr) Exec(string arguments)
    {
        var info = new ProcessStartInfo(Python, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}
