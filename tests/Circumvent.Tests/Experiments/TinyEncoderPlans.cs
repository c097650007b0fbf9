using System.Text;
using System.Text.Json.Nodes;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Experiments;

/// <summary>Encoder plans small enough to run in a test: synthetic 32×32 CIFAR-10 files (40 train, 12 test), a ResNet-18 at width 1/16.</summary>
public static class TinyEncoderPlans
{
    /// <summary>A fresh folder with the synthetic CIFAR-10 files and a 32×32 reference image.</summary>
    public static (string Dir, string Cifar, string Reference) Folder()
    {
        var dir = CliHarness.TempFolder();
        var cifar = "cifar10:" + PretrainCliTests.WriteSyntheticCifar(Path.Combine(dir, "cifar"));
        var reference = Path.Combine(dir, "reference.ppm");
        var pixels = Enumerable.Range(0, 32 * 32 * 3).Select(i => (byte)(120 + i % 7)).ToArray();
        File.WriteAllBytes(reference, [.. Encoding.ASCII.GetBytes("P6\n32 32\n255\n"), .. pixels]);
        return (dir, cifar, reference);
    }

    /// <summary>A clean encoder file made by `circumvent pretrain --method simclr` in <paramref name="dir"/>.</summary>
    public static string CleanEncoderFile(string dir, string cifar)
    {
        var path = Path.Combine(dir, "clean.safetensors");
        var run = CliHarness.Run("pretrain", "--method", "simclr", "--arch", "resnet18", "--width", "0.0625", "--data", cifar,
            "--epochs", "1", "--batch-size", "8", "--knn-k", "5", "--out", path);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return path;
    }

    /// <summary>
    /// The clean encoder pre-trained by the plan; BadEncoder on it (target 9 of the "cifar10" downstream set, one reference
    /// file and one dataset image); defences none and a one-round TSC; downstream sets "cifar10" and "copy" (the same data).
    /// </summary>
    public static JsonObject Plan(string cifar, string reference) => new()
    {
        ["name"] = "tiny-encoder",
        ["datasets"] = new JsonArray(cifar),
        ["encoder"] = new JsonObject { ["pretrain"] = new JsonObject { ["architecture"] = "resnet18", ["width"] = 0.0625, ["epochs"] = 1, ["batch_size"] = 8 } },
        ["downstreams"] = new JsonObject { ["cifar10"] = cifar, ["copy"] = cifar },
        ["probe"] = new JsonObject { ["kind"] = "mlp", ["epochs"] = 2 },
        ["attacks"] = new JsonArray(new JsonObject
        {
            ["kind"] = "badencoder", ["downstream"] = "cifar10", ["target"] = 9, ["epochs"] = 1, ["batch_size"] = 8, ["learning_rate"] = 0.01,
            ["references"] = new JsonArray(reference, new JsonObject { ["data"] = cifar, ["class"] = 7, ["index"] = 1 }),
        }),
        ["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "tsc", ["rounds"] = 1, ["curve_epochs"] = 1, ["batch_size"] = 5 }),
        ["seeds"] = new JsonArray(0),
        ["clean_fraction"] = 0.5,
    };
}
