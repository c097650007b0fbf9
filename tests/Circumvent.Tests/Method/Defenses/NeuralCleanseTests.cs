using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Method.Defenses;
using Circumvent.Method.Defenses.NeuralCleanse;

namespace Circumvent.Tests.Method.Defenses;

/// <summary>
/// Neural Cleanse's parts against hand computations (the MAD outlier test, the cost schedule, the unlearning data), its
/// trigger search against the planted backdoor's known patch, and the whole defence against the planted backdoor.
/// </summary>
public class NeuralCleanseTests
{
    /// <summary>A short search for the 8×8 planted problem: batches of 32 (five per epoch).</summary>
    private static readonly NeuralCleanseOptions Quick = new()
    {
        TriggerEpochs = 40,
        TriggerBatchSize = 32,
        Unlearning = new NeuralCleanseOptions().Unlearning with { Epochs = 10, BatchSize = 32 },
    };

    [Fact]
    public void AnomalyIndexMatchesAHandComputation()
    {
        // Sorted: 10 48 49 50 51 52 53 55 57 60 → median (lower middle, as torch.median) 51.
        // |L1 − 51| by class: 41 1 1 4 9 3 2 0 6 2 → sorted 0 1 1 2 2 3 4 6 9 41 → median 2 → MAD = 1.4826·2 = 2.9652.
        double[] l1 = [10, 50, 52, 55, 60, 48, 53, 51, 57, 49];
        var report = AnomalyIndex.Detect(l1, threshold: 2);
        Assert.Equal(51, report.Median);
        Assert.Equal(2.9652, report.Mad, 10);
        Assert.Equal(41 / 2.9652, report.Index[0], 10);
        Assert.Equal(3 / 2.9652, report.Index[5], 10);   // 48: below the median but within 2 MADs
        Assert.Equal(9 / 2.9652, report.Index[4], 10);   // 60: 3.04 MADs, but above the median: never flagged
        Assert.Equal(41 / 2.9652, report.MinIndex, 10);
        Assert.Equal([0], report.Flagged);
    }

    [Fact]
    public void MedianOfAnEvenCountIsTheLowerMiddleValue()
    {
        Assert.Equal(2, AnomalyIndex.LowerMedian([4, 1, 3, 2]));
        Assert.Equal(3, AnomalyIndex.LowerMedian([5, 1, 3]));
        // All norms equal but one: MAD is 0, the odd one out is infinitely anomalous, the rest are not.
        var report = AnomalyIndex.Detect([1, 5, 5, 5, 5], threshold: 2);
        Assert.Equal(0, report.Mad);
        Assert.Equal(double.PositiveInfinity, report.Index[0]);
        Assert.Equal(0, report.Index[1]);
        Assert.Equal([0], report.Flagged);
    }

    /// <summary>
    /// Patience 5, early-stop patience 3: five epochs at the threshold double the cost, five below divide it by 2^1.5.
    /// The best L1 (10) is set in epoch 1 and never beaten, so the early-stop counter climbs from epoch 2; the stop needs
    /// the cost to have moved both ways (up after epoch 5, down after epoch 10), so it fires in epoch 11.
    /// </summary>
    [Fact]
    public void CostScheduleAndEarlyStopFollowTheOriginalRules()
    {
        var options = new NeuralCleanseOptions { InitCost = 1e-3, Patience = 5, EarlyStopPatience = 3 };
        var schedule = new TriggerSearchSchedule(TriggerSearchSchedule.Initial(options.InitCost), options);
        Assert.False(schedule.Found);
        Assert.True(schedule.EndEpoch(attackAccuracy: 0.99, meanL1: 10), "the first trigger at the threshold is the best so far");
        for (int epoch = 2; epoch <= 4; epoch++) Assert.False(schedule.EndEpoch(0.99, 10));
        Assert.Equal(1e-3f, schedule.Cost);
        Assert.False(schedule.EndEpoch(0.99, 10));
        Assert.Equal(2e-3f, schedule.Cost);
        for (int epoch = 6; epoch <= 9; epoch++) Assert.False(schedule.EndEpoch(0.5, 3), "below the threshold a small mask does not count");
        Assert.Equal(2e-3f, schedule.Cost);
        schedule.EndEpoch(0.5, 3);
        Assert.Equal(2e-3f / MathF.Pow(2, 1.5f), schedule.Cost);
        Assert.False(schedule.Stopped);
        Assert.Equal(10f, schedule.BestL1);
        schedule.EndEpoch(0.99, 10);
        Assert.True(schedule.Stopped);
    }

    [Fact]
    public void UnlearningSetStampsAFifthOfDWithEachFlaggedTriggerUnderTrueLabels()
    {
        var pixels = Enumerable.Range(0, 10 * 4).Select(i => (byte)(10 * (i / 4) + i % 4)).ToArray(); // image k: 10k, 10k+1, 10k+2, 10k+3
        var clean = new ImageDataset(pixels, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1], 1, 2, 2, ["a", "b", "c", "d"]);
        // Mask 1 on the top-left pixel, 0.5 on the bottom-right; pattern white there.
        var a = new ReversedTrigger(0, [1, 0, 0, 0.5f], [1, 0, 0, 1], 1, 2, 2, Found: true);
        var b = new ReversedTrigger(2, [0, 1, 0, 0], [0, 0.2f, 0, 0], 1, 2, 2, Found: true);

        var set = UnlearningSet.Build(clean, [a, b], ratio: 0.2, seed: 3);

        Assert.Equal(8 + 2 + 2, set.Count);
        var stampedSources = new List<int>();
        for (int i = 0; i < set.Count; i++)
        {
            var image = set.Image(i).ToArray();
            int source = image[2] / 10; // pixel 2 is untouched by both triggers
            Assert.Equal(clean.Labels[source], set.Labels[i]);
            if (i < 8) Assert.Equal(clean.Image(source).ToArray(), image);
            else if (i < 10)
            {
                // a: 255 where the mask is 1; (1 − 0.5)·x + 0.5·255 rounded where it is 0.5.
                Assert.Equal(new byte[] { 255, (byte)(10 * source + 1), (byte)(10 * source + 2), (byte)Math.Round(0.5 * (10 * source + 3) + 127.5) }, image);
                stampedSources.Add(source);
            }
            else
            {
                Assert.Equal(new byte[] { (byte)(10 * source), (byte)Math.Round(0.2 * 255), (byte)(10 * source + 2), (byte)(10 * source + 3) }, image);
                Assert.Equal(stampedSources[i - 10], source);
            }
        }
        // Every image of D appears once clean or once per trigger.
        var cleanSources = Enumerable.Range(0, 8).Select(i => set.Image(i)[2] / 10);
        Assert.Equal(Enumerable.Range(0, 10), cleanSources.Concat(stampedSources).Order());
    }

    /// <summary>The search for the target class finds the planted 2×2 patch: most of the mask's mass lies on it.</summary>
    [Fact]
    public void TriggerSearchRecoversThePlantedPatchLocation()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25);
        Assert.True(problem.Evaluate(problem.Parameters).Asr >= 95, "the planted backdoor did not take");
        var trigger = TriggerSearch.Run(problem.Architecture, problem.Parameters, problem.Clean, problem.Normalization, target: 0, Quick, seed: 5);

        Assert.True(trigger.Found, "the search never reached the attack threshold");
        int size = PlantedBackdoorProblem.Size;
        double onPatch = 0;
        for (int y = 0; y < 2; y++)
            for (int x = size - 2; x < size; x++) onPatch += trigger.Mask[y * size + x];
        Assert.True(onPatch / trigger.L1 >= 0.5, $"only {onPatch / trigger.L1:P0} of the mask (L1 {trigger.L1:F2}) lies on the patch");
        int peak = Array.IndexOf(trigger.Mask, trigger.Mask.Max());
        Assert.True(peak / size < 2 && peak % size >= size - 2, $"the mask peaks at row {peak / size}, column {peak % size}, off the patch");
        // And a clean class needs a larger trigger.
        var other = TriggerSearch.Run(problem.Architecture, problem.Parameters, problem.Clean, problem.Normalization, target: 2, Quick, seed: 5);
        Assert.True(other.L1 > 2 * trigger.L1, $"class 2's trigger (L1 {other.L1:F2}) is not clearly larger than the target's ({trigger.L1:F2})");
    }

    /// <summary>On the planted backdoor NC flags the target class only and unlearning brings ASR down at little cost in accuracy.</summary>
    [Fact]
    public void NeuralCleanseFlagsTheTargetAndLowersAsr()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 0, arch: "mlp", width: 0.25);
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "run") };
        var result = new NeuralCleanseDefense(Quick).Run(input);

        var anomaly = JsonNode.Parse(File.ReadAllText(Path.Combine(input.RunFolder!, NeuralCleanseDefense.AnomalyFile)))!;
        Assert.Equal([0], anomaly["flagged"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.True(result.Before!.Asr >= 95, $"the planted backdoor did not take (ASR {result.Before.Asr:F1}%)");
        Assert.True(result.After!.Asr <= 20, $"NC left ASR at {result.After.Asr:F1}% (before: {result.Before.Asr:F1}%)");
        Assert.True(result.After.Acc >= result.Before.Acc - 5, $"NC cost {result.Before.Acc - result.After.Acc:F1} points of accuracy");
        Assert.Equal(["round 1 · unlearn"], result.Stages.Select(s => s.Label));
        // The same report is the result's "neural_cleanse" finding, also when a rerun restores every unit instead of computing it.
        Assert.True(JsonNode.DeepEquals(anomaly, result.Findings!["neural_cleanse"]));
        var again = new NeuralCleanseDefense(Quick).Run(input);
        Assert.Equal(0, again.UnitsRun);
        Assert.True(JsonNode.DeepEquals(anomaly, again.Findings!["neural_cleanse"]));
    }

    /// <summary>Stopped in the middle of a class's search, a rerun continues it and ends where an uninterrupted run ends.</summary>
    [Fact]
    public void AStoppedSearchResumesToTheUninterruptedResult()
    {
        var problem = PlantedBackdoorProblem.Create(seed: 1, arch: "mlp", width: 0.25);
        var options = Quick with { TriggerEpochs = 12, Unlearning = Quick.Unlearning with { Epochs = 2 } };
        using var folder = new Circumvent.Tests.Data.TempFolder();
        var straight = new NeuralCleanseDefense(options).Run(problem.Input() with { RunFolder = Path.Combine(folder.Path, "straight") });

        var input = problem.Input() with { RunFolder = Path.Combine(folder.Path, "stopped") };
        var stopper = new RecordingObserver { StopDuring = (unit, detail) => unit.Id == "round1.trigger-class1" && detail.Contains("epoch 7/12 batch 5/5") };
        Assert.Throws<InterruptedForTest>(() => new NeuralCleanseDefense(options).Run(input, stopper));
        Assert.True(File.Exists(Path.Combine(input.RunFolder!, "round1.trigger-class1.state")), "the stopped search kept no progress");
        var observer = new RecordingObserver();
        var resumed = new NeuralCleanseDefense(options).Run(input, observer);

        Assert.DoesNotContain(observer.ProgressLines, p => p.Id == "round1.trigger-class1" && p.Detail.Contains("epoch 1/12"));
        Assert.Contains(observer.Finished, f => f.Id == "round1.trigger-class0" && f.Resumed);
        foreach (var name in straight.Purified.Names)
            Assert.Equal(straight.Purified[name].ToArray(), resumed.Purified[name].ToArray());
        for (int c = 0; c < 4; c++)
        {
            var a = Circumvent.Models.Checkpoints.CheckpointFiles.Read(Path.Combine(folder.Path, "straight", $"round1.trigger-class{c}.safetensors"));
            var b = Circumvent.Models.Checkpoints.CheckpointFiles.Read(Path.Combine(input.RunFolder!, $"round1.trigger-class{c}.safetensors"));
            Assert.Equal(a.Tensors.Select(t => t.Floats), b.Tensors.Select(t => t.Floats));
        }
    }

    [Fact]
    public void BadOptionsAreRefusedByTheirOptionName()
    {
        var e = Assert.Throws<ArgumentException>(() => new NeuralCleanseOptions { UnlearningRatio = 1 }.Validate());
        Assert.Contains("--nc-unlearning-ratio", e.Message);
        e = Assert.Throws<ArgumentException>(() => new NeuralCleanseOptions { TriggerEpochs = 0 }.Validate());
        Assert.Contains("--nc-epochs", e.Message);
    }
}
