using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Curves;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>
/// "Augment" means the dataset's recipe: a mirrored digit is no digit, so MNIST gets random crops only, while
/// photos and clothing keep their flips. Training and purification use it and record it.
/// </summary>
public class DatasetAugmentationTests
{
    [Theory]
    [InlineData("mnist", 28, 3, false)]
    [InlineData("fashion-mnist", 28, 3, true)]
    [InlineData("cifar10", 32, 4, true)]
    [InlineData("gtsrb", 32, 4, false)]
    [InlineData("imagefolder", 64, 8, false)]
    public void EachDatasetKindHasItsOwnRecipe(string kind, int height, int padding, bool flip) =>
        Assert.Equal(new Augmentation(padding, flip), KnownDatasets.Find(kind)!.AugmentationFor(height));

    [Fact]
    public void CurvesAndFineTuningUseTheDatasetsRecipeWhenGivenOne()
    {
        var digits = Augmentation.Crop(3);
        Assert.Equal(digits, new CurveOptions { DatasetAugmentation = digits }.AugmentationFor(28));
        Assert.Equal(digits, new FineTuneOptions { DatasetAugmentation = digits }.AugmentationFor(28));
        Assert.Equal(Augmentation.None, new CurveOptions { Augment = false, DatasetAugmentation = digits }.AugmentationFor(28));
        // Not part of the recorded settings, so run folders and experiment keys are unchanged by it.
        Assert.DoesNotContain("augmentation", System.Text.Json.JsonSerializer.Serialize(new CurveOptions { DatasetAugmentation = digits }), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TrainingAndPurifyingDigitsNeverFlipAndSaySo()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 200, testCount: 50);
        var model = Path.Combine(dir, "digits.safetensors");
        var train = CliHarness.Run("train", "--arch", "mlp", "--width", "0.0625", "--data", data, "--epochs", "1", "--batch-size", "50", "--out", model);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("augmentation crop 3)", train.Stdout);
        var recorded = JsonNode.Parse(ModelCheckpoint.Load(model).TrainingJson!)!["augmentation"]!;
        Assert.Equal(3, recorded["crop_padding"]!.GetValue<int>());
        Assert.False(recorded["horizontal_flip"]!.GetValue<bool>());

        var output = Path.Combine(dir, "purified.safetensors");
        var purify = CliHarness.Run("purify", "--model", model, "--data", data, "--defense", "ft", "--finetune-epochs", "1",
            "--batch-size", "20", "--clean-fraction", "0.2", "--out", output);
        Assert.True(purify.ExitCode == 0, purify.Stderr);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output + ".run", "config.json")))!;
        Assert.Equal("crop 3", config["input"]!["augmentation"]!.GetValue<string>());
    }
}
