using Circumvent.Attacks;
using Circumvent.Method.Pipelines;
using Circumvent.Method.Runs;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Cli;
using Circumvent.Training;

namespace Circumvent.Tests.Method.Runs;

/// <summary>
/// A model stopped mid-training whose data and trigger file then moved (a checkout moved, another node mounts them
/// elsewhere) continues where it stopped and ends as the uninterrupted run does; the same names holding other content
/// are refused, naming the state file, before any work.
/// </summary>
public sealed class MovedInputsTests
{
    private static TrainingConfig Config(string folder) => new()
    {
        Architecture = "mlp", WidthMultiplier = 0.5, Data = "mnist:" + Path.Combine(folder, "data"), Epochs = 3, BatchSize = 50,
        Augment = false, Seed = 1,
    };

    private static AttackDefinition Blended(string folder) =>
        new() { Kind = AttackDefinition.BlendedKind, Target = 1, PoisonRate = 0.1, TriggerImage = Path.Combine(folder, "trigger.pgm") };

    // A 16×16 grey PGM: the Blended trigger.
    private static void WriteTrigger(string path)
    {
        var pixels = Enumerable.Range(0, 256).Select(i => (byte)(i * 37 % 256)).ToArray();
        File.WriteAllBytes(path, [.. "P5\n16 16\n255\n"u8.ToArray(), .. pixels]);
    }

    [Fact]
    public void ATrainingStoppedMidwayResumesAfterItsDataAndTriggerMovedAndIsRefusedWhenTheyHoldOtherContent()
    {
        string dir = CliHarness.TempFolder(), a = Path.Combine(dir, "a");
        CliHarness.WriteSyntheticMnistLayout(Path.Combine(a, "data"), trainCount: 200, testCount: 50, size: 16);
        WriteTrigger(Path.Combine(a, "trigger.pgm"));
        var whole = BackdoorTraining.Run(Config(a), Path.Combine(dir, "whole.safetensors"), Blended(a), CancellationToken.None);

        // Stopped after its first epoch.
        string output = Path.Combine(dir, "model.safetensors");
        using (var stop = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => BackdoorTraining.Run(Config(a), output, Blended(a), stop.Token,
                log: line => { if (line.StartsWith("epoch 1/3", StringComparison.Ordinal)) stop.Cancel(); }));
        string state = BackdoorTraining.StatePath(output);
        Assert.True(File.Exists(state));
        byte[] saved = File.ReadAllBytes(state);

        // Moved; and a copy at a third place whose trigger differs in one pixel.
        string b = Path.Combine(dir, "b"), c = Path.Combine(dir, "c");
        Directory.Move(a, b);
        Directory.CreateDirectory(Path.Combine(c, "data"));
        foreach (var file in Directory.GetFiles(Path.Combine(b, "data"))) File.Copy(file, Path.Combine(c, "data", Path.GetFileName(file)));
        var trigger = File.ReadAllBytes(Path.Combine(b, "trigger.pgm"));
        trigger[^1] ^= 0xff;
        File.WriteAllBytes(Path.Combine(c, "trigger.pgm"), trigger);

        var refused = Assert.Throws<CheckpointException>(() => BackdoorTraining.Run(Config(c), output, Blended(c), CancellationToken.None));
        Assert.Contains(state, refused.Message);
        Assert.Contains("other content", refused.Message);
        Assert.Equal(saved, File.ReadAllBytes(state));
        Assert.False(File.Exists(output));

        var log = new List<string>();
        var resumed = BackdoorTraining.Run(Config(b), output, Blended(b), CancellationToken.None, log: log.Add);
        Assert.Contains(log, line => line.StartsWith("continuing the training saved in", StringComparison.Ordinal));
        Assert.Equal(2, log.Count(line => line.StartsWith("epoch ", StringComparison.Ordinal))); // epochs 2 and 3 only
        var expected = ModelCheckpoint.Load(whole.OutputPath).Parameters;
        foreach (var entry in ModelCheckpoint.Load(resumed.OutputPath).Parameters)
            Assert.Equal(expected[entry.Name].ToArray(), entry.Tensor.ToArray());
        Assert.Equal(whole.Backdoor!.Asr, resumed.Backdoor!.Asr);
    }

    [Fact]
    public void AStoreNamesWorkByItsKeyWithoutPlacesAndByItsContentAndStillFindsAnEntryNamedByTheWholeKey()
    {
        string store = CliHarness.TempFolder();
        string Key(string data) => $"{{\"data\":\"mnist:{data}\",\"seed\":0}}";
        string here = InputContent.StorePath(store, Key("/a/data"), () => "d1", ".mask-state");
        Assert.Equal(here, InputContent.StorePath(store, Key("/b/data"), () => "d1", ".mask-state"));
        Assert.NotEqual(here, InputContent.StorePath(store, Key("/a/data"), () => "d2", ".mask-state"));
        Assert.NotEqual(here, InputContent.StorePath(store, "{\"data\":\"mnist:/a/data\",\"seed\":1}", () => "d1", ".mask-state"));

        // An entry written before stores were named this way (by the whole key) is used where it is, until one of the new name exists.
        string earlier = Path.Combine(store, Circumvent.Data.Sha256Hex.ShortOf(Key("/a/data")) + ".mask-state");
        File.WriteAllText(earlier, "");
        Assert.Equal(earlier, InputContent.StorePath(store, Key("/a/data"), () => "d1", ".mask-state"));
        File.WriteAllText(here, "");
        Assert.Equal(here, InputContent.StorePath(store, Key("/a/data"), () => "d1", ".mask-state"));
    }
}
