using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;

namespace Circumvent.Tests.Models;

public class ModelCheckpointTests : IDisposable
{
    private readonly SafeTensorsFiles _files = new();
    private static readonly ArchitectureConfig Small = new("preact-resnet18", 3, 32, 32, 4, 0.125);

    public void Dispose() => _files.Dispose();

    private static ModelCheckpoint NewCheckpoint(ArchitectureConfig? config = null)
    {
        config ??= Small;
        return new ModelCheckpoint
        {
            Architecture = config,
            Parameters = Architectures.Create(config).Initialize(new Random(3)),
            ClassNames = ["a", "b", "c", "d"],
            NormalizationMean = [0.4914f, 0.4822f, 0.4465f],
            NormalizationStd = [0.247f, 0.243f, 0.261f],
            TrainingJson = """{"epochs": 2, "lr": 0.1}""",
            Extra = { ["circumvent.attack"] = """{"kind":"badnets"}""" },
            BatchesTracked = { ["layer1.0.bn1"] = 42 },
        };
    }

    [Fact]
    public void SaveLoadRoundTripsTensorsAndMetadata()
    {
        var path = _files.PathOf("m.safetensors");
        var saved = NewCheckpoint();
        saved.Save(path);
        var loaded = ModelCheckpoint.Load(path);

        Assert.Equal(Small, loaded.Architecture);
        Assert.Equal(saved.Parameters.Names, loaded.Parameters.Names);
        foreach (var e in saved.Parameters)
        {
            Assert.Equal(e.Tensor.ToArray(), loaded.Parameters[e.Name].ToArray());
            Assert.Equal(e.Role, loaded.Parameters.RoleOf(e.Name));
        }
        Assert.Equal(saved.ClassNames, loaded.ClassNames);
        Assert.Equal(saved.NormalizationMean, loaded.NormalizationMean);
        Assert.Equal(saved.NormalizationStd, loaded.NormalizationStd);
        Assert.Equal(saved.TrainingJson, loaded.TrainingJson);
        Assert.Equal(saved.Extra, loaded.Extra);
        Assert.Equal(42, loaded.BatchesTracked["layer1.0.bn1"]);
        Assert.Equal(0, loaded.BatchesTracked["layer4.1.bn2"]);
        Assert.Equal([3, 32, 32], loaded.InputShape);
    }

    [Fact]
    public void FileCarriesNumBatchesTrackedAfterEachRunningVar()
    {
        var path = _files.PathOf("m.safetensors");
        NewCheckpoint().Save(path);
        var names = SafeTensorsReader.Read(path).Tensors.Select(t => t.Name).ToList();
        var tracked = SafeTensorsReader.Read(path).Tensors.Where(t => t.Name.EndsWith(".num_batches_tracked")).ToList();
        Assert.Equal(Architectures.Create(Small).Tensors.Count(t => t.Name.EndsWith(".running_var")), tracked.Count);
        Assert.All(tracked, t => { Assert.Equal(SafeTensorDType.I64, t.DType); Assert.Empty(t.Shape); });
        int i = names.IndexOf("layer1.0.bn1.running_var");
        Assert.Equal("layer1.0.bn1.num_batches_tracked", names[i + 1]);
        Assert.Equal(42, tracked.Single(t => t.Name == "layer1.0.bn1.num_batches_tracked").Int64s![0]);
    }

    [Fact]
    public void MissingExtraAndMisshapedTensorsAreAllReported()
    {
        var content = WriteStateDict(tensors =>
        {
            tensors.RemoveAll(t => t.Name == "linear.bias");
            tensors.Add(SafeTensor.FromFloats("fc.weight", [1], [0f]));
            int k = tensors.FindIndex(t => t.Name == "layer1.0.conv1.weight");
            tensors[k] = SafeTensor.FromFloats("layer1.0.conv1.weight", [4, 8, 3, 3], new float[4 * 8 * 9]);
        });
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(content));
        Assert.Contains("missing tensors: linear.bias", e.Message);
        Assert.Contains("unexpected tensors: fc.weight", e.Message);
        Assert.Contains("tensor 'layer1.0.conv1.weight': expected (8, 8, 3, 3), file has (4, 8, 3, 3)", e.Message);
        Assert.Contains(content, e.Message);
    }

    [Fact]
    public void IntegerWeightAndFloatCounterAreDtypeErrors()
    {
        var content = WriteStateDict(tensors =>
        {
            int k = tensors.FindIndex(t => t.Name == "linear.bias");
            tensors[k] = SafeTensor.FromInt64s("linear.bias", [4], new long[4]);
            int c = tensors.FindIndex(t => t.Name == "layer1.0.bn1.num_batches_tracked");
            tensors[c] = SafeTensor.FromFloats("layer1.0.bn1.num_batches_tracked", [], [0f]);
        });
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(content));
        Assert.Contains("tensor 'linear.bias': expected a floating-point tensor, file has I64", e.Message);
        Assert.Contains("'layer1.0.bn1.num_batches_tracked': expected an I64 scalar", e.Message);
    }

    [Fact]
    public void PlainStateDictLoadsWithExplicitArchitecture()
    {
        var path = _files.PathOf("m.safetensors");
        NewCheckpoint().Save(path);
        var content = SafeTensorsReader.Read(path);
        var plain = _files.PathOf("plain.safetensors");
        SafeTensorsWriter.Write(plain, content.Tensors.Where(t => !t.Name.EndsWith(".num_batches_tracked")).ToList());

        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(plain));
        Assert.Contains("circumvent.architecture", e.Message);
        var loaded = ModelCheckpoint.Load(plain, Small);
        Assert.Equal(content.Tensors.Single(t => t.Name == "conv1.weight").Floats!, loaded.Parameters["conv1.weight"].ToArray());
        Assert.Null(loaded.ClassNames);
        Assert.Equal(0, loaded.BatchesTracked["layer1.0.bn1"]);
    }

    [Fact]
    public void WrongArchitectureForFileIsReported()
    {
        var path = _files.PathOf("m.safetensors");
        NewCheckpoint().Save(path);
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(path, Small with { WidthMultiplier = 0.25 }));
        Assert.Contains("tensor 'conv1.weight': expected (16, 3, 3, 3), file has (8, 3, 3, 3)", e.Message);
    }

    [Fact]
    public void UnknownArchitectureInMetadataIsACheckpointError()
    {
        var path = _files.PathOf("m.safetensors");
        SafeTensorsWriter.Write(path, [SafeTensor.FromFloats("w", [1], [0f])],
            new Dictionary<string, string> { [ModelCheckpoint.ArchitectureKey] = """{"name":"lenet","in_channels":1,"height":28,"width":28,"classes":10}""" });
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(path));
        Assert.Contains("Unknown architecture 'lenet'", e.Message);
    }

    [Fact]
    public void SaveRejectsInconsistentMetadataAndParameters()
    {
        var path = _files.PathOf("m.safetensors");
        var wrongNames = new ModelCheckpoint { Architecture = Small, Parameters = NewCheckpoint().Parameters, ClassNames = ["only one"] };
        Assert.Contains("1 class names", Assert.Throws<CheckpointException>(() => wrongNames.Save(path)).Message);

        var otherParameters = Architectures.Create(Small with { Classes = 7 }).Initialize(new Random(0));
        var mismatch = new ModelCheckpoint { Architecture = Small, Parameters = otherParameters };
        Assert.Contains("tensor 'linear.weight': expected (4, 64), file has (7, 64)", Assert.Throws<CheckpointException>(() => mismatch.Save(path)).Message);

        var reserved = NewCheckpoint();
        reserved.Extra[ModelCheckpoint.TrainingKey] = "{}";
        Assert.Contains("reserved", Assert.Throws<CheckpointException>(() => reserved.Save(path)).Message);
        Assert.False(File.Exists(path));
    }

    /// <summary>Saves a valid checkpoint, lets <paramref name="edit"/> change its tensor list, rewrites it with the same metadata.</summary>
    private string WriteStateDict(Action<List<SafeTensor>> edit)
    {
        var path = _files.PathOf("valid.safetensors");
        NewCheckpoint().Save(path);
        var content = SafeTensorsReader.Read(path);
        var tensors = content.Tensors.ToList();
        edit(tensors);
        var edited = _files.PathOf("edited.safetensors");
        SafeTensorsWriter.Write(edited, tensors, content.Metadata);
        return edited;
    }
}
