using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Method.Defenses;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Method;

/// <summary>
/// A backdoored model that trains in seconds: four classes of 1×8×8 images (class k = a bright bar on rows 2k, 2k+1,
/// columns 0–5, on noise), 10% of the training set stamped with a 2×2 white BadNet patch in the top-right corner
/// (rows 0–1, columns 6–7, where every class has noise) and relabelled to class 0, a small network trained on it
/// without augmentation. Clean data D and the test set are drawn separately.
/// </summary>
public sealed class PlantedBackdoorProblem
{
    public const int Size = 8;

    public required IArchitecture Architecture { get; init; }
    public required ParameterSet Parameters { get; init; }
    public required ImageDataset Clean { get; init; }
    public required BackdoorTestSet TestSet { get; init; }
    public Normalization Normalization { get; } = Normalization.Identity(1);

    public static IAttack Attack { get; } = AttackTo(0);

    /// <summary>The planted BadNet attack relabelling to <paramref name="target"/>.</summary>
    public static IAttack AttackTo(int target) => new BadNetAttack(new AttackDefinition
    {
        Kind = AttackDefinition.BadNetKind, Target = target, PoisonRate = 0.1, PatchSize = 2, PatchRow = 0, PatchColumn = Size - 2,
    });

    /// <param name="seed">Draws the images, the poisoned subset and the initial weights.</param>
    /// <param name="target">The class the patch sends images to (0 unless a test needs another).</param>
    public static PlantedBackdoorProblem Create(int seed = 0, string arch = "cnn-small", double width = 0.25, int trainCount = 800, int epochs = 8, int target = 0)
    {
        var attack = target == 0 ? Attack : AttackTo(target);
        var train = Poisoning.Poison(Images(trainCount, 1000 + seed), attack, attack.Definition.PoisonRate, seed).Data;
        var architecture = Architectures.Create(new ArchitectureConfig(arch, 1, Size, Size, 4, width));
        var parameters = architecture.Initialize(new Random(seed));
        var config = new TrainingConfig { Architecture = arch, Epochs = epochs, BatchSize = 32, LearningRate = 0.05, Augment = false, Seed = seed };
        var source = new BatchLoaderSource(new BatchLoader(train, Normalization.Identity(1), BatchLoaderOptions.Training(32, seed)));
        new Trainer(architecture, parameters, config, new RunningStatsUpdater(parameters)).Train(source);
        return new PlantedBackdoorProblem
        {
            Architecture = architecture,
            Parameters = parameters,
            Clean = Images(160, 2000 + seed),
            TestSet = BackdoorTestSet.Create(Images(400, 3000 + seed), Normalization.Identity(1), attack),
        };
    }

    public BackdoorScores Evaluate(ParameterSet parameters) => BackdoorMetrics.Evaluate(Architecture, parameters, TestSet);

    public DefenseInput Input(int seed = 11) => new()
    {
        Architecture = Architecture,
        Parameters = Parameters,
        Clean = Clean,
        Normalization = Normalization,
        Objective = new SupervisedObjective(0),
        Seed = seed,
        Evaluate = Evaluate,
    };

    /// <summary><paramref name="count"/> clean images of the four classes (bars on noise), drawn by <paramref name="seed"/>.</summary>
    public static ImageDataset Images(int count, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * Size * Size];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int label = i % 4;
            labels[i] = label;
            var image = pixels.AsSpan(i * Size * Size, Size * Size);
            for (int p = 0; p < image.Length; p++) image[p] = (byte)rng.Next(0, 100);
            for (int y = 2 * label; y < 2 * label + 2; y++)
                for (int x = 0; x < Size - 2; x++) image[y * Size + x] = (byte)rng.Next(170, 256);
        }
        return new ImageDataset(pixels, labels, 1, Size, Size, ["a", "b", "c", "d"]);
    }
}
