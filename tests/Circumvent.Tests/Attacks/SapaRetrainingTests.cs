using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Attacks.Sapa;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Support;
using Circumvent.Training;
using Xunit.Abstractions;

namespace Circumvent.Tests.Attacks;

/// <summary>
/// SAPA's surrogate retraining during crafting (`--sapa-retrain T`, Sleeper Agent's retrain every attackiter/(T+1) steps):
/// when it happens, that it trains a fresh surrogate on the poisoned set, and that the crafting continues against it.
/// </summary>
public class SapaRetrainingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(250, 4, new[] { 50, 100, 150, 200 })] // the authors' retrain_iter 50 of attackiter 250
    [InlineData(100, 2, new[] { 33, 66 })]            // the small-scale recipe's
    [InlineData(100, 0, new int[0])]
    [InlineData(3, 2, new[] { 1, 2 })]
    public void RetrainingsFallAfterEqualBlocksOfSteps(int steps, int retrainings, int[] expected) =>
        Assert.Equal(expected, SapaCrafting.RetrainingSteps(steps, retrainings));

    /// <summary>
    /// 6 steps, T = 2: the callback runs after updates 2 and 4 with δ as it is then (moved, and moved again), and the losses
    /// from step 3 on are those of the surrogate it returned: the first two equal a run without retraining, the third does not.
    /// </summary>
    [Fact]
    public void CraftingRetrainsAfterEachBlockWithTheCurrentDeltaAndMatchesOnTheNewSurrogate()
    {
        var f = new SecondOrderFixture();
        var normalization = Normalization.Cifar10;
        var (sources, poisons) = SapaTests.SourcesAndPoisons(normalization);
        var options = new SapaOptions { Steps = 6, Epsilon = 16, Retrainings = 2 };
        var calls = new List<(int Round, float[] Delta)>();
        var (delta, losses) = SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, options, retrain: (d, round) =>
        {
            calls.Add((round, d.ToArray()));
            return f.Architecture.Initialize(new Random(100 + round)); // another surrogate
        });
        var (_, fixedLosses) = SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, options with { Retrainings = 0 });
        output.WriteLine("retrained: " + string.Join(" ", losses.Select(l => l.ToString("F5"))) + "; fixed: " + string.Join(" ", fixedLosses.Select(l => l.ToString("F5"))));

        Assert.Equal([1, 2], calls.Select(c => c.Round));
        Assert.Contains(calls[0].Delta, v => v != 0);
        Assert.NotEqual(calls[0].Delta, calls[1].Delta);
        Assert.NotEqual(calls[1].Delta, delta.ToArray()); // two more steps after the last retraining
        Assert.Equal(fixedLosses.Take(2), losses.Take(2));
        Assert.NotEqual(fixedLosses[2], losses[2]);

        var missing = Assert.Throws<ArgumentException>(() => SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, options));
        Assert.Contains("--sapa-retrain", missing.Message);
    }

    /// <summary>
    /// Stopped right after its first retraining (6 steps, T = 2, crop/flip drawn per step), a crafting continues from its state
    /// file: the second retraining alone runs again, and δ and the losses of the steps left are those of an uninterrupted run
    /// (δ, Adam's moments, the retrained surrogate and the augmentation's draws all restored). A rerun that finds every step
    /// done crafts nothing; a state made from other settings is refused, naming the file.
    /// </summary>
    [Fact]
    public void AStoppedCraftingContinuesFromItsStateToTheUninterruptedResult()
    {
        var f = new SecondOrderFixture();
        var normalization = Normalization.Cifar10;
        var (sources, poisons) = SapaTests.SourcesAndPoisons(normalization);
        var options = new SapaOptions { Steps = 6, Epsilon = 16, Retrainings = 2, Augmentation = Augmentation.CropAndFlip(1), Seed = 7 };
        ParameterSet Retrained(int round) => f.Architecture.Initialize(new Random(100 + round));
        (Tensor Delta, IReadOnlyList<double> Losses) Craft(SapaOptions o, Func<Tensor, int, ParameterSet> retrain, string? state, CancellationToken stop = default) =>
            SapaCrafting.Craft(f.Architecture, f.Model(), normalization, sources, poisons, o, retrain: retrain, statePath: state, cancellation: stop);
        var (straight, straightLosses) = Craft(options, (_, r) => Retrained(r), null);

        using var folder = new Circumvent.Tests.Data.TempFolder();
        string state = Path.Combine(folder.Path, "model.safetensors.sapa-state");
        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Craft(options, (_, r) => { stop.Cancel(); return Retrained(r); }, state, stop.Token));
        Assert.True(File.Exists(state), "the stopped crafting kept no progress");

        var rounds = new List<int>();
        var (resumed, resumedLosses) = Craft(options, (_, r) => { rounds.Add(r); return Retrained(r); }, state);
        Assert.Equal([2], rounds);
        Assert.Equal(straight.ToArray(), resumed.ToArray());
        Assert.Equal(straightLosses.Skip(2), resumedLosses);

        rounds.Clear();
        var (again, againLosses) = Craft(options, (_, r) => { rounds.Add(r); return Retrained(r); }, state);
        Assert.Empty(rounds);
        Assert.Equal(straight.ToArray(), again.ToArray());
        Assert.Equal([straightLosses[^1]], againLosses);

        var other = Assert.Throws<CheckpointException>(() => Craft(options with { Seed = 8 }, (_, r) => Retrained(r), state));
        Assert.Contains(state, other.Message);
    }

    /// <summary>
    /// A retraining on a tiny set (40 random 8×8 images, 4 classes; 2 epochs, batch 8): the weights it returns differ from the fresh
    /// initialisation it started from (it trained), differ when the poisons' δ differs (it trained on x + δ, not the clean set),
    /// are the same for the same δ (reproducible), and the given set is left as it was.
    /// </summary>
    [Fact]
    public void ARetrainingTrainsAFreshSurrogateOnTheSetWithTheCurrentPoisons()
    {
        var (set, indices, poisonImages, architecture) = TinySet();
        var recipe = TinyRecipe();
        var retraining = new SurrogateRetraining(architecture, recipe, Augmentation.None, Normalization.Cifar10);
        var pixelsBefore = (byte[])set.Pixels.Clone();
        var zero = new Tensor(poisonImages.Shape.ToArray(), new float[poisonImages.Length]);
        var moved = new Tensor(poisonImages.Shape.ToArray(), [.. Enumerable.Range(0, poisonImages.Length).Select(i => i % 3 == 0 ? 0.25f : -0.25f)]);

        var clean = Flat(retraining.Train(set, indices, poisonImages, zero, round: 1));
        var poisoned = Flat(retraining.Train(set, indices, poisonImages, moved, round: 1));
        var again = Flat(retraining.Train(set, indices, poisonImages, moved, round: 1));
        var init = Flat(architecture.Initialize(new Random(retraining.ConfigFor(1).SeedFor(RandomStream.Initialization))));

        double Distance(float[] a, float[] b) => Math.Sqrt(a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum());
        output.WriteLine($"‖trained − init‖ {Distance(poisoned, init):G4}, ‖poisoned − clean‖ {Distance(poisoned, clean):G4}, ‖again − poisoned‖ {Distance(again, poisoned):G4}");
        Assert.True(Distance(poisoned, init) > 1e-3, "the retraining did not train");
        Assert.True(Distance(poisoned, clean) > 1e-5, "the retraining ignored the poisons' δ");
        Assert.Equal(poisoned, again);
        Assert.Equal(pixelsBefore, set.Pixels);
        Assert.NotEqual(Flat(retraining.Train(set, indices, poisonImages, moved, round: 2)), poisoned); // each round its own seed
    }

    /// <summary>
    /// Through `--attack sapa` on a surrogate file that records its recipe: with one retraining the written poisons differ from a
    /// fixed surrogate's (the crafting went on against the retrained one); a surrogate file without a training record is refused,
    /// naming both options.
    /// </summary>
    [Fact]
    public void TheAttackRetrainsBySurrogateFilesRecipeAndRefusesAFileWithoutOne()
    {
        var (set, _, _, architecture) = TinySet();
        var path = AttackTestImages.TempFile("sapa-retrain-surrogate.safetensors");
        var surrogate = architecture.Initialize(new Random(9));
        var recipe = TinyRecipe() with { Augment = true };
        var record = JsonNode.Parse(recipe.ToJson())!.AsObject();
        record["augmentation"] = new JsonObject { ["crop_padding"] = 1, ["horizontal_flip"] = true };
        Checkpoint(architecture, surrogate, record.ToJsonString()).Save(path);
        AttackDefinition Definition(int retrainings, string file) => new()
        {
            // A large rate, so the steps after the retraining (at 0.1 after the first decay) still move whole pixel levels.
            Kind = "sapa", Target = 2, CleanModel = file, SapaSteps = 8, SapaLearningRate = 1, SapaSources = 8, SapaPatchSize = 3, PoisonRate = 0.1,
            SapaRetrainings = retrainings,
        };
        var fixedSurrogate = Poisoning.Poison(set, AttackFactory.Create(Definition(0, path)), 0.1, seed: 1);
        var retrained = Poisoning.Poison(set, AttackFactory.Create(Definition(1, path)), 0.1, seed: 1);
        Assert.Equal(fixedSurrogate.PoisonedIndices, retrained.PoisonedIndices);
        Assert.NotEqual(fixedSurrogate.Data.Pixels, retrained.Data.Pixels);
        Assert.Contains("\"sapa_retrainings\":1", Definition(1, path).ToJson());
        // The crafting's progress, as `train` and the runner show it: the plan, every 10th step, each retraining's epochs; the
        // same poisons as without a log.
        var lines = new List<string>();
        var logged = Poisoning.Poison(set, ((Circumvent.Attacks.Sapa.SapaAttack)AttackFactory.Create(Definition(1, path) with { SapaSteps = 20 })).ForRun(lines.Add, null, default), 0.1, seed: 1);
        Assert.Equal(Poisoning.Poison(set, AttackFactory.Create(Definition(1, path) with { SapaSteps = 20 }), 0.1, seed: 1).Data.Pixels, logged.Data.Pixels);
        string[] expected = ["SAPA: crafting 4 poisons against 8 patched sources, 20 steps, 1 retraining of the surrogate",
            "SAPA step 10/20: matching loss ", "SAPA: retraining the surrogate (1/1) on the poisons after step 10",
            "SAPA retraining 1: epoch 1/2 loss ", "SAPA retraining 1: epoch 2/2 loss ", "SAPA step 20/20: matching loss "];
        Assert.Equal(expected.Length, lines.Count);
        Assert.All(expected.Zip(lines), pair => Assert.StartsWith(pair.First, pair.Second, StringComparison.Ordinal));

        var (config, augmentation) = SurrogateRetraining.RecipeOf(record.ToJsonString(), path);
        Assert.Equal(recipe, config);
        Assert.Equal(new Augmentation(1, true), augmentation);
        Assert.Equal(Augmentation.None, SurrogateRetraining.RecipeOf(TinyRecipe().ToJson(), path).Augmentation); // augment off

        var bare = AttackTestImages.TempFile("sapa-bare-surrogate.safetensors");
        Checkpoint(architecture, surrogate, trainingJson: null).Save(bare);
        var refused = Assert.Throws<ArgumentException>(() => Poisoning.Poison(set, AttackFactory.Create(Definition(1, bare)), 0.1, seed: 1));
        Assert.Contains("--sapa-retrain", refused.Message);
        Assert.Contains("--clean-model", refused.Message);
        Assert.Contains("--sapa-retrain", Assert.Throws<ArgumentException>(() => Definition(8, path).Validate()).Message); // T < steps
    }

    private static ModelCheckpoint Checkpoint(IArchitecture architecture, ParameterSet parameters, string? trainingJson) => new()
    {
        Architecture = architecture.Config, Parameters = parameters, TrainingJson = trainingJson,
        NormalizationMean = Normalization.Cifar10.Mean, NormalizationStd = Normalization.Cifar10.Std,
    };

    private static TrainingConfig TinyRecipe() => new()
    {
        Architecture = "cnn-small", WidthMultiplier = 0.125, Epochs = 2, BatchSize = 8, LearningRate = 0.05, Augment = false, Seed = 3,
    };

    // 40 random 8×8 RGB images, labels i mod 4; the poisons are 4 of class 2, normalised (N, 3, 8, 8).
    private static (ImageDataset Set, int[] Indices, Tensor PoisonImages, IArchitecture Architecture) TinySet()
    {
        var rng = new Random(5);
        var pixels = new byte[40 * 3 * 64];
        rng.NextBytes(pixels);
        var set = new ImageDataset(pixels, [.. Enumerable.Range(0, 40).Select(i => i % 4)], 3, 8, 8, ["a", "b", "c", "d"]);
        int[] indices = [2, 6, 10, 14];
        var normalization = Normalization.Cifar10;
        var values = new float[indices.Length * 192];
        for (int n = 0; n < indices.Length; n++)
            for (int p = 0; p < 192; p++) values[n * 192 + p] = normalization.Apply(set.Image(indices[n])[p], p / 64);
        var architecture = Architectures.Create(new ArchitectureConfig("cnn-small", 3, 8, 8, 4, 0.125));
        return (set, indices, Tensor.FromArray(values, indices.Length, 3, 8, 8), architecture);
    }

    private static float[] Flat(ParameterSet parameters) => [.. parameters.SelectMany(e => e.Tensor.ToArray())];
}
