using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Cli;

/// <summary>`circumvent pretrain --method simclr` on a tiny synthetic CIFAR-10 folder: an encoder checkpoint with its role and PyTorch names, and bad input refused up front.</summary>
public class PretrainCliTests
{
    /// <summary>CIFAR-10's binary layout with <paramref name="perBatch"/> records per training batch: class k is dark or light by k's parity, with noise.</summary>
    internal static string WriteSyntheticCifar(string folder, int perBatch = 8, int testCount = 12)
    {
        Directory.CreateDirectory(folder);
        var rng = new Random(3);
        byte[] Records(int count)
        {
            var bytes = new byte[count * 3073];
            for (int i = 0; i < count; i++)
            {
                int label = i % 10;
                bytes[i * 3073] = (byte)label;
                for (int j = 1; j <= 3072; j++) bytes[i * 3073 + j] = (byte)((label % 2 == 0 ? 40 : 200) + rng.Next(-30, 30));
            }
            return bytes;
        }
        foreach (var name in Circumvent.Data.Formats.Cifar10Binary.TrainFiles) File.WriteAllBytes(Path.Combine(folder, name), Records(perBatch));
        File.WriteAllBytes(Path.Combine(folder, Circumvent.Data.Formats.Cifar10Binary.TestFile), Records(testCount));
        return folder;
    }

    [Fact]
    public void PretrainWritesAnEncoderCheckpointAndReportsKnn()
    {
        var folder = CliHarness.TempFolder();
        var cifar = WriteSyntheticCifar(Path.Combine(folder, "cifar"));
        var output = Path.Combine(folder, "encoder.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "simclr", "--arch", "resnet18", "--width", "0.0625", "--data", "cifar10:" + cifar,
            "--epochs", "2", "--batch-size", "8", "--knn-k", "5", "--out", output);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("SimCLR pre-training of resnet18", run.Stdout);
        Assert.Contains("40 images", run.Stdout);
        Assert.Contains("kNN accuracy", run.Stdout);
        Assert.DoesNotContain("acc NaN", run.Stdout);
        var content = SafeTensorsReader.Read(output);
        Assert.Equal("encoder", content.Metadata["circumvent.role"]);
        Assert.Contains("\"temperature\":0.5", content.Metadata["circumvent.simclr"]);
        var names = content.Tensors.Select(t => t.Name).ToList();
        Assert.Contains("f.conv1.weight", names);
        Assert.Contains("f.bn1.num_batches_tracked", names);
        Assert.Contains("g.0.weight", names);
        Assert.Contains("g.3.bias", names);
        Assert.DoesNotContain("f.linear.weight", names);
        Assert.False(File.Exists(output + ".train-state"));
    }

    /// <summary>
    /// A finished pre-training continues from its encoder (--encoder): the same seed and epochs from scratch reproduce the
    /// first file, so a second run that ignored --encoder would write the first file's weights again.
    /// </summary>
    [Fact]
    public void SimClrContinuesFromAGivenEncoder()
    {
        var folder = CliHarness.TempFolder();
        var cifar = WriteSyntheticCifar(Path.Combine(folder, "cifar"));
        string[] common = ["pretrain", "--method", "simclr", "--data", "cifar10:" + cifar, "--epochs", "1", "--batch-size", "8", "--knn-k", "5"];
        var first = Path.Combine(folder, "first.safetensors");
        var run = CliHarness.Run([.. common, "--arch", "resnet18", "--width", "0.0625", "--out", first]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var continued = Path.Combine(folder, "continued.safetensors");
        run = CliHarness.Run([.. common, "--encoder", first, "--out", continued]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var again = Path.Combine(folder, "again.safetensors");
        run = CliHarness.Run([.. common, "--arch", "resnet18", "--width", "0.0625", "--out", again]);
        Assert.True(run.ExitCode == 0, run.Stderr);

        float[] Weights(string path) => SafeTensorsReader.Read(path).Tensors.First(t => t.Name == "f.conv1.weight").Floats!;
        Assert.Equal(Weights(first), Weights(again));
        Assert.NotEqual(Weights(first), Weights(continued));
        var checkpoint = EncoderCheckpoint.Load(continued);
        Assert.Equal(Path.GetFullPath(first), checkpoint.Extra["circumvent.source_model"]);
        Assert.Equal(0.0625, checkpoint.Architecture.WidthMultiplier);
    }

    [Theory]
    [InlineData("--method", "byol", "--method must be one of simclr")]
    [InlineData("--arch", "mlp", "--arch mlp cannot be a SimCLR encoder")]
    [InlineData("--temperature", "0", "--temperature must be a positive number")]
    public void BadInputIsOneLineAndWritesNothing(string option, string value, string message)
    {
        var folder = CliHarness.TempFolder();
        var cifar = WriteSyntheticCifar(Path.Combine(folder, "cifar"));
        var output = Path.Combine(folder, "encoder.safetensors");
        var run = CliHarness.Run("pretrain", "--data", "cifar10:" + cifar, "--epochs", "1", "--width", "0.0625", "--out", output, option, value);
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.StderrLines);
        Assert.Contains(message, run.Stderr);
        Assert.False(File.Exists(output));
    }
}
