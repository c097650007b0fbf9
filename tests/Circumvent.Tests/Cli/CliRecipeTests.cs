using System.Text.Json;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Tests.Cli;

/// <summary>`train --recipe airbench`: the preset's values, overridden where an option is given, all in the checkpoint; TTA in eval.</summary>
public class CliRecipeTests
{
    [Fact]
    public void RecipeDefaultsAreRecordedAndOptionsWin()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), 200, 100, size: 16);
        var model = Path.Combine(dir, "airnet.safetensors");
        var train = CliHarness.Run("train", "--arch", "airnet", "--recipe", "airbench", "--width", "0.0625", "--data", data,
            "--epochs", "1.5", "--batch-size", "50", "--lr-scale", "none", "--tta", "1", "--out", model);
        Assert.True(train.ExitCode == 0, $"train failed: {train.Stderr}");
        Assert.Contains("(TTA level 1)", train.Stdout);

        var checkpoint = ModelCheckpoint.Load(model);
        var config = TrainingConfig.FromJson(checkpoint.TrainingJson!);
        Assert.Equal("airbench", config.Recipe);
        Assert.Equal((1.5, 50, 1), (config.Epochs, config.BatchSize, config.TtaLevel)); // given
        Assert.Null(config.LearningRateScales);                                          // cleared
        Assert.Equal(11.5 * 50 / (1024 * (1 + 1 / 0.15)), config.LearningRate, 12);      // the preset's, at the given batch
        Assert.Equal((0.4, 5, 2, "alternate", true), (config.BatchNormMomentum, config.LookaheadEvery, config.Translate, config.Flip, config.WhitenInit));
        Assert.Equal("1", checkpoint.Extra[BackdoorTraining.TtaLevelKey]);

        var eval = CliHarness.Run("eval", "--model", model, "--data", data, "--tta", "2", "--json");
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
        Assert.Equal(2, JsonDocument.Parse(eval.Stdout).RootElement.GetProperty("tta_level").GetInt32());
    }

    [Theory]
    [InlineData("--recipe bogus", "--recipe")]
    [InlineData("--arch mlp --whiten-init", "--whiten-init")]
    [InlineData("--freeze nothing.here", "--freeze 'nothing.here'")]
    [InlineData("--schedule triangle --triangle 0.2,1.5,0", "--triangle")]
    [InlineData("--flip sideways", "--flip")]
    public void BadRecipeOptionsFailInOneLineBeforeWriting(string options, string named)
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), 20, 10, size: 16);
        var model = Path.Combine(dir, "m.safetensors");
        string[] args = ["train", .. (options.Contains("--arch") ? [] : new[] { "--arch", "airnet" }), .. options.Split(' '), "--width", "0.0625", "--data", data, "--out", model];
        var run = CliHarness.Run(args);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(named, run.Stderr);
        Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(model));
    }
}
