using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Models;

/// <summary>Which architecture a checkpoint is built with: description, stored metadata, or inference with hints.</summary>
public class ModelLoadSettingsTests : IDisposable
{
    private readonly SafeTensorsFiles _files = new();
    private static readonly ArchitectureConfig Stored = new("cnn-small", 1, 8, 8, 3, 0.25);

    public void Dispose() => _files.Dispose();

    private (string Path, SafeTensorsContent Content) Saved()
    {
        var path = _files.PathOf("m.safetensors");
        new ModelCheckpoint { Architecture = Stored, Parameters = Architectures.Create(Stored).Initialize(new Random(1)) }.Save(path);
        return (path, CheckpointFiles.Read(path));
    }

    [Fact]
    public void StoredArchitectureIsUsedSilentlyWithoutHints()
    {
        var (path, content) = Saved();
        var notes = new List<string>();
        // The input size passed for inference (16×16) is ignored: the file says 8×8.
        var checkpoint = ModelLoadSettings.Default.Build(path, content, 16, 16, notes.Add);
        Assert.Equal(Stored, checkpoint.Architecture);
        Assert.Empty(notes);
    }

    [Fact]
    public void HintsSwitchToInferenceAndSayWhatWasInferred()
    {
        var (path, content) = Saved();
        var notes = new List<string>();
        var checkpoint = new ModelLoadSettings(ArchName: "cnn-small").Build(path, content, 8, 8, notes.Add);
        Assert.Equal(Stored, checkpoint.Architecture);
        Assert.Contains("--arch cnn-small", Assert.Single(notes));
        // A wrong width hint reaches the tensor check, which names a mis-shaped tensor.
        var wrong = Assert.Throws<CheckpointException>(() => new ModelLoadSettings(Width: 0.5).Build(path, content, 8, 8));
        Assert.Contains("conv1.weight", wrong.Message);
    }

    [Fact]
    public void ADescriptionWinsOverMetadataAndExcludesHints()
    {
        var (path, content) = Saved();
        // An "override" that differs from the file only in its (unverifiable) input size shows it was used.
        var over = Stored with { Height = 12, Width = 12 };
        Assert.Equal(over, new ModelLoadSettings(Architecture: over).Build(path, content, 8, 8).Architecture);
        Assert.Throws<ArgumentException>(() => new ModelLoadSettings(Architecture: over, ArchName: "cnn-small").Build(path, content, 8, 8));
    }
}
