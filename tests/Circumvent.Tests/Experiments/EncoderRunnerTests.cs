using System.Text.Json.Nodes;
using Circumvent.Data;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Reports;
using Circumvent.Experiments.Running;

namespace Circumvent.Tests.Experiments;

/// <summary>
/// An encoder plan end to end on tiny synthetic data (issue #17): results lines with kNN and acc_NAME/asr_NAME before and
/// after, the clean and the BadEncoder encoders trained once and shared by the cells, the after-scores taken from the
/// defence's output (not the encoder it started from), a second run that repeats nothing, and the report's tables.
/// </summary>
[Collection(Circumvent.Tests.Support.EngineThreadBudgetCollection.Name)]
public class EncoderRunnerTests
{
    private sealed class Logged : IExperimentObserver
    {
        public readonly List<string> Lines = [];

        public void Log(Cell cell, string message)
        {
            lock (Lines) Lines.Add(message);
        }
    }

    private static List<JsonObject> Lines(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject())];

    [Fact]
    public void AnEncoderPlanScoresEveryDownstreamSetReusesItsEncodersAndResumes()
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        var plan = PlanReader.Read(TinyPlans.Write(dir, TinyEncoderPlans.Plan(cifar, reference)));
        var settings = new RunSettings(Path.Combine(dir, "out"));
        var observer = new Logged();
        var first = ExperimentRunner.Run(plan, settings, observer, CancellationToken.None);
        Assert.Equal((2, 0, 2), (first.Cells, first.AlreadyDone, first.RunNow));

        var lines = Lines(settings.ResultsPath);
        Assert.Equal(["none", "tsc"], lines.Select(l => l["defense"]!.GetValue<string>()));
        foreach (var line in lines)
        {
            Assert.Equal("tiny-encoder", line["plan"]!.GetValue<string>());
            Assert.Equal(("badencoder-cifar10", "resnet18", 0), (line["attack"]!.GetValue<string>(), line["architecture"]!.GetValue<string>(), line["seed"]!.GetValue<int>()));
            foreach (var field in new[] { "knn_before", "knn_after", "acc_cifar10_before", "asr_cifar10_before", "acc_cifar10_after", "asr_cifar10_after", "acc_copy_before", "acc_copy_after" })
                Assert.InRange(line[field]!.GetValue<double>(), 0, 100);
            // ASR only where the attack's target class is: the "cifar10" set, not "copy".
            Assert.Null(line["asr_copy_before"]);
            Assert.Null(line["asr_copy_after"]);
            Assert.Equal("cifar10", line["stages_scored_on"]!.GetValue<string>());
            Assert.Contains("circumvent pretrain --method badencoder", line["model"]!["made_by"]!.GetValue<string>());
            Assert.Contains("--objective simclr --defense " + line["defense"]!.GetValue<string>(), line["purify_command"]!.GetValue<string>());

            // Before: the BadEncoder model the defence started from; after: the defence's output, scored from its own file.
            string model = line["model"]!["path"]!.GetValue<string>();
            // (An encoder cell has no retuning attack, so its run folder is named by its key.)
            string purified = Path.Combine(settings.OutFolder, "runs", line["key"]!.GetValue<string>(), "purified.safetensors");
            Assert.Equal(Sha256Hex.OfFile(model), line["scored"]!["before"]!.GetValue<string>());
            Assert.Equal(Sha256Hex.OfFile(purified), line["scored"]!["after"]!.GetValue<string>());
            Assert.NotEqual(line["scored"]!["before"]!.GetValue<string>(), line["scored"]!["after"]!.GetValue<string>());
            // …and the defence purified that same BadEncoder model (its output records its source by content).
            var source = JsonNode.Parse(Circumvent.Models.Checkpoints.SafeTensorsReader.Read(purified).Metadata["circumvent.source_model"])!;
            Assert.Equal(line["scored"]!["before"]!.GetValue<string>(), source["sha256"]!.GetValue<string>());
        }
        // The TSC cell ran with the self-supervised defaults (t 0.25) and scored its stages.
        Assert.Equal(0.25, lines[1]["config"]!["defense_options"]!["t"]!.GetValue<double>());
        Assert.NotEmpty(lines[1]["rounds"]!.AsArray());
        // Scored twice in all: the BadEncoder model (both cells' "before", and the `none` cell's "after": the same weights
        // in another file) and the TSC output.
        Assert.Equal(2, observer.Lines.Count(m => m.StartsWith("scoring ", StringComparison.Ordinal)));
        Assert.Equal(lines[0]["knn_before"]!.GetValue<double>(), lines[0]["knn_after"]!.GetValue<double>());
        // The backdoored encoder was scored once: both cells report the same "before".
        Assert.Equal(lines[0]["acc_cifar10_before"]!.GetValue<double>(), lines[1]["acc_cifar10_before"]!.GetValue<double>());

        // The clean encoder and the BadEncoder model were each trained once; the second cell reused them.
        Assert.Single(observer.Lines, m => m.StartsWith("training the clean encoder", StringComparison.Ordinal));
        Assert.Single(observer.Lines, m => m.StartsWith("training the badencoder encoder", StringComparison.Ordinal));
        Assert.Equal([true, false], lines.Select(l => l["model"]!["training"]!["trained_now"]!.GetValue<bool>()));
        Assert.Equal([true, false], lines.Select(l => l["clean_encoder"]!["training"]!["trained_now"]!.GetValue<bool>()));
        string modelFolder = Path.GetDirectoryName(lines[0]["model"]!["path"]!.GetValue<string>())!;
        Assert.True(File.Exists(Path.Combine(modelFolder, "references", "ref1.ppm"))); // the second class-7 training image the plan named
        Assert.Contains("references" + Path.DirectorySeparatorChar + "ref1.ppm", lines[0]["model"]!["made_by"]!.GetValue<string>());

        // A second run repeats nothing.
        var again = new Logged();
        var second = ExperimentRunner.Run(plan, settings, again, CancellationToken.None);
        Assert.Equal((2, 2, 0), (second.Cells, second.AlreadyDone, second.RunNow));
        Assert.Empty(again.Lines);
        Assert.Equal(2, Lines(settings.ResultsPath).Count);

        // The report has a table for the kNN accuracy and one per downstream set.
        var written = ExperimentReport.Write([settings.ResultsPath], Path.Combine(dir, "report"));
        string markdown = File.ReadAllText(written.Markdown);
        foreach (var heading in new[] { "→ kNN", "→ cifar10", "→ copy" }) Assert.Contains(heading, markdown);
        Assert.Contains("| badencoder-cifar10 | - |", markdown);
        Assert.Contains("tsc ACC", markdown);
    }

    /// <summary>
    /// A CTRL encoder's cells report the kNN's ASR (triggered non-target pre-training test images the kNN puts in the target
    /// class: the authors' knn_monitor_fre, Table 13's headline) before and after the defence, and a defence's stages an
    /// ASR with CTRL's trigger; other attacks' cells have no kNN ASR.
    /// </summary>
    [Fact]
    public void ACtrlCellReportsTheKnnAsrBeforeAndAfter()
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        var document = TinyEncoderPlans.Plan(cifar, reference);
        document["attacks"] = new JsonArray(
            new JsonObject { ["kind"] = "ctrl", ["downstream"] = "cifar10", ["target"] = 0, ["epochs"] = 1, ["batch_size"] = 8, ["poison_rate"] = 0.5 },
            "none");
        document["defenses"] = new JsonArray("none");
        // CTRL's own defences: a one-round TSC, whose stages are scored with CTRL's trigger (its model records no classifier attack).
        document["attacks"]![0]!["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "tsc", ["rounds"] = 1, ["curve_epochs"] = 1, ["batch_size"] = 5 });
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        var settings = new RunSettings(Path.Combine(dir, "out"));
        ExperimentRunner.Run(plan, settings, new Logged(), CancellationToken.None);
        var lines = Lines(settings.ResultsPath);
        var tscStages = lines.Single(l => l["attack"]!.GetValue<string>() == "ctrl" && l["defense"]!.GetValue<string>() == "tsc")["rounds"]!.AsArray()
            .SelectMany(r => r!["stages"]!.AsArray()).ToList();
        Assert.NotEmpty(tscStages);
        Assert.All(tscStages, stage => Assert.InRange(stage!["asr"]!.GetValue<double>(), 0, 100));
        var ctrl = lines.Single(l => l["attack"]!.GetValue<string>() == "ctrl" && l["defense"]!.GetValue<string>() == "none");
        double before = ctrl["knn_asr_before"]!.GetValue<double>(), after = ctrl["knn_asr_after"]!.GetValue<double>();
        Assert.InRange(before, 0, 100);
        Assert.Equal(before, after); // `none`: the same weights
        // The number the CTRL training measured on the same data and kNN, recorded with the model.
        Assert.Equal(ctrl["model"]!["training"]!["knn_asr"]!.GetValue<double>(), before, 3);
        var clean = lines.Single(l => l["attack"]!.GetValue<string>() == "none");
        Assert.False(clean.ContainsKey("knn_asr_before"));
    }

    [Fact]
    public void AGivenCleanEncoderFileIsScoredAsItIsWithoutTraining()
    {
        var (dir, cifar, reference) = TinyEncoderPlans.Folder();
        string file = TinyEncoderPlans.CleanEncoderFile(dir, cifar);
        var document = TinyEncoderPlans.Plan(cifar, reference);
        document["encoder"] = new JsonObject { ["file"] = "clean.safetensors" };
        document["attacks"] = new JsonArray("none");
        document["defenses"] = new JsonArray("none");
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        var settings = new RunSettings(Path.Combine(dir, "out"));
        var observer = new Logged();
        ExperimentRunner.Run(plan, settings, observer, CancellationToken.None);

        var line = Assert.Single(Lines(settings.ResultsPath));
        Assert.DoesNotContain(observer.Lines, m => m.StartsWith("training", StringComparison.Ordinal));
        Assert.Equal(file, line["model"]!["path"]!.GetValue<string>());
        Assert.Equal(Sha256Hex.OfFile(file), line["scored"]!["before"]!.GetValue<string>());
        Assert.Null(line["asr_cifar10_before"]); // no attack: no ASR
        Assert.InRange(line["acc_cifar10_after"]!.GetValue<double>(), 0, 100);
    }
}
