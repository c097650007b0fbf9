using Circumvent.Models.Checkpoints;
using Circumvent.Models.Checkpoints.PyTorch;
using Circumvent.Tests.Models.PyTorch;

namespace Circumvent.Tests.Cli;

/// <summary>`eval` and `purify` on a plain PyTorch state_dict (.pth): inferred architecture, .pth output, clear refusals.</summary>
public class PyTorchCliTests
{
    /// <summary>A trained mlp saved the way a PyTorch user would have it: a bare state_dict from a DataParallel model, no metadata.</summary>
    /// <param name="poison">When given, this tensor's first value becomes NaN.</param>
    internal static (string Dir, string Data, string Pth) Setup(string? poison = null)
    {
        var (dir, data, trained) = PurifyCliTests.Setup();
        var tensors = SafeTensorsReader.Read(trained).Tensors
            .Select(t => t.IsFloat ? SafeTensor.FromFloats("module." + t.Name, t.Shape, t.Name == poison ? [float.NaN, .. t.Floats![1..]] : t.Floats!)
                                   : SafeTensor.FromInt64s("module." + t.Name, t.Shape, t.Int64s!))
            .ToList();
        var pth = Path.Combine(dir, "model.pth");
        PyTorchCheckpointWriter.Write(pth, tensors);
        return (dir, data, pth);
    }

    [Fact]
    public void EvalAndPurifyRunOnAPlainStateDictAndWritePth()
    {
        var (dir, data, pth) = Setup();
        var eval = CliHarness.Run("eval", "--model", pth, "--data", data, "--attack", "badnet", "--target", "0");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains("mlp, width 0.0625, 1 input channels, 10 classes (architecture inferred from its tensors)", eval.Stdout);
        Assert.Contains("attack success rate", eval.Stdout);

        var output = Path.Combine(dir, "purified.pth");
        var purify = CliHarness.Run("purify", "--model", pth, "--data", data, "--attack", "badnet", "--target", "0", "--defense", "ft",
            "--finetune-epochs", "1", "--batch-size", "32", "--clean-fraction", "0.2", "--out", output);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        Assert.True(PyTorchCheckpointReader.LooksLikeZip(File.ReadAllBytes(output)));
        // The .pth keeps Circumvent's metadata in an entry PyTorch ignores, so it reloads without hints.
        var purified = ModelCheckpoint.Load(output);
        Assert.Equal("mlp", purified.Architecture.Name);
        Assert.Contains("circumvent.defense", purified.Extra.Keys);
        var again = CliHarness.Run("eval", "--model", output, "--data", data, "--json");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.StartsWith("{\"acc\":", again.Stdout.Trim());
    }

    [Fact]
    public void WrongArchitectureNamesTheMissingTensors()
    {
        var (_, data, pth) = Setup();
        var run = CliHarness.Run("eval", "--model", pth, "--data", data, "--arch", "cnn-small");
        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.StderrLines);
        Assert.Contains("model.pth", line);
        Assert.Contains("conv1.weight", line);
    }

    [Fact]
    public void MaliciousCheckpointIsRefusedInOneLine()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 20, testCount: 20);
        var run = CliHarness.Run("eval", "--model", PthFixtures.PathOf("malicious"), "--data", data);
        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.StderrLines);
        Assert.Contains("malicious.pth", line);
        Assert.Contains("posix.system", line);
    }

    [Fact]
    public void DescriptionAndArchHintsExcludeEachOther()
    {
        var (dir, data, pth) = Setup();
        var description = Path.Combine(dir, "net.json");
        File.WriteAllText(description, "{}");
        foreach (var hint in new[] { new[] { "--arch", "mlp" }, ["--width", "0.0625"] })
        {
            var run = CliHarness.Run(["eval", "--model", pth, "--data", data, "--description", description, .. hint]);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("--description", Assert.Single(run.StderrLines));
        }
    }

    [Fact]
    public void NonFiniteWeightsAreRefusedUnlessAllowed()
    {
        var (dir, data, pth) = Setup(poison: "fc2.weight");
        var refused = CliHarness.Run("eval", "--model", pth, "--data", data);
        Assert.Equal(2, refused.ExitCode);
        var line = Assert.Single(refused.StderrLines);
        Assert.Contains("fc2.weight", line);
        Assert.Contains("--allow-nonfinite", line);

        // purify goes through the same loader: the warning reaches stderr before the run, the run completes.
        var output = Path.Combine(dir, "purified.safetensors");
        var allowed = CliHarness.Run("purify", "--model", pth, "--data", data, "--allow-nonfinite", "--defense", "none", "--out", output,
            "--normalize", "0.1307,0.3081"); // said, so the only warning is about the weights
        Assert.True(allowed.ExitCode == 0, allowed.Stderr);
        var warning = Assert.Single(allowed.StderrLines);
        Assert.StartsWith("circumvent: warning:", warning);
        Assert.Contains("fc2.weight", warning);
        Assert.Contains("architecture inferred from its tensors", allowed.Stdout);
        Assert.True(File.Exists(output));
    }
}
