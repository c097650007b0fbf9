using System.Text.Json.Nodes;
using Circumvent.Experiments.Plans;
using Circumvent.Experiments.Running;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Experiments;

[Collection(Circumvent.Tests.Support.EngineThreadBudgetCollection.Name)] // --parallel 2 changes Parallelism.Threads
public class RunnerTests
{
    /// <summary>Cancels the run once <paramref name="after"/> cells have finished.</summary>
    private sealed class CancelAfter(int after, CancellationTokenSource cancel) : IExperimentObserver
    {
        public int Finished;
        public readonly List<string> Logged = [];

        public void Log(Cell cell, string message)
        {
            lock (Logged) Logged.Add(message);
        }

        public void CellFinished(Cell cell, JsonObject result, int finished, int remaining, TimeSpan eta)
        {
            Finished = finished;
            Assert.True(eta >= TimeSpan.Zero);
            if (finished >= after) cancel.Cancel();
        }
    }

    /// <summary>Cancels the run at the first log line <paramref name="when"/> accepts.</summary>
    private sealed class CancelOnLog(Func<string, bool> when, CancellationTokenSource cancel) : IExperimentObserver
    {
        public void Log(Cell cell, string message)
        {
            if (when(message)) cancel.Cancel();
        }
    }

    private static List<JsonObject> Lines(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject())];

    [Fact]
    public void AModelStoppedMidTrainingReportsTheSecondsOfEveryCallThatTrainedIt()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 0 });
        document["defenses"] = new JsonArray("none");
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        var settings = new RunSettings(Path.Combine(dir, "out"));
        using (var cancel = new CancellationTokenSource())
        {
            var stopper = new CancelOnLog(m => m.StartsWith("epoch 1/", StringComparison.Ordinal), cancel);
            Assert.ThrowsAny<OperationCanceledException>(() => ExperimentRunner.Run(plan, settings, stopper, cancel.Token));
        }
        string model = Directory.GetDirectories(Path.Combine(settings.OutFolder, "models")).Single();
        string seconds = Path.Combine(model, "model.safetensors.train-seconds");
        Assert.True(File.Exists(seconds));
        File.WriteAllText(seconds, "500"); // pretend the stopped call trained for long, to see it counted

        ExperimentRunner.Run(plan, settings, new CancelAfter(int.MaxValue, new CancellationTokenSource()), CancellationToken.None);
        var training = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "training.json")))!;
        Assert.InRange(training["seconds"]!.GetValue<double>(), 500, 560);
        Assert.False(File.Exists(seconds));
    }

    [Fact]
    public void ACachedModelWhoseTriggerImageChangedIsRefusedBeforeAnyWork()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "blended", ["trigger_image"] = trigger, ["alpha"] = 0.2 });
        document["defenses"] = new JsonArray("none");
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        string cache = Path.Combine(dir, "cache");
        ExperimentRunner.Summary RunInto(string name) =>
            ExperimentRunner.Run(plan, new RunSettings(Path.Combine(dir, name), cache), new CancelAfter(int.MaxValue, new CancellationTokenSource()), CancellationToken.None);

        RunInto("first");
        string entry = Directory.GetDirectories(cache).Single();
        Assert.True(File.Exists(Path.Combine(entry, "inputs.json")));

        // The same bytes written again: the cached model is served.
        File.WriteAllBytes(trigger, File.ReadAllBytes(trigger));
        Assert.Equal(1, RunInto("same").RunNow);
        string trained = File.ReadAllText(Path.Combine(entry, "training.json"));

        // Another image under the same name: refused, naming the file, before any cell runs.
        Circumvent.Data.Formats.Netpbm.Write(trigger, 1, 28, 28, new byte[28 * 28]);
        var error = Assert.Throws<ArgumentException>(() => RunInto("changed"));
        Assert.Contains(trigger, error.Message);
        Assert.Empty(File.ReadAllText(Path.Combine(dir, "changed", "results.jsonl")));
        Assert.Equal(trained, File.ReadAllText(Path.Combine(entry, "training.json")));

        // An entry from before the record existed gets one from the files as they are (then guards them).
        File.Delete(Path.Combine(entry, "inputs.json"));
        Assert.Equal(1, RunInto("recorded").RunNow);
        Assert.True(File.Exists(Path.Combine(entry, "inputs.json")));
    }

    [Fact]
    public void KilledRunLosesNoFinishedCellAndRestartRepeatsNone()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var plan = PlanReader.Read(TinyPlans.Write(dir, TinyPlans.Plan(data, trigger)));
        var allKeys = Grid.Expand(plan).Select(c => c.Key).ToList();
        var settings = new RunSettings(Path.Combine(dir, "out"));

        // 1. Interrupted after 2 finished cells (the third is cancelled mid-way).
        using (var cancel = new CancellationTokenSource())
        {
            var observer = new CancelAfter(2, cancel);
            Assert.ThrowsAny<OperationCanceledException>(() => ExperimentRunner.Run(plan, settings, observer, cancel.Token));
            Assert.Equal(2, observer.Finished);
        }
        var first = File.ReadAllLines(settings.ResultsPath);
        Assert.Equal(allKeys.Take(2), Lines(settings.ResultsPath).Select(l => l["key"]!.GetValue<string>()));

        // 2. Restart: runs exactly the remaining cells, keeps the first lines byte for byte.
        var restart = new CancelAfter(int.MaxValue, new CancellationTokenSource());
        var summary = ExperimentRunner.Run(plan, settings, restart, CancellationToken.None);
        Assert.Equal((6, 2, 4), (summary.Cells, summary.AlreadyDone, summary.RunNow));
        // A model trained in a cell reports each epoch on the log (the second attack's model is trained now).
        Assert.Contains(restart.Logged, m => m.StartsWith("epoch 1/", StringComparison.Ordinal) && m.Contains("img/s"));
        // So does a defence: its curve's epochs, each unit's end and the scores before and after each stage.
        Assert.Contains(restart.Logged, m => m.StartsWith("round1.stage1-curve: ", StringComparison.Ordinal) && m.Contains("epoch 1/1 "));
        Assert.Contains(restart.Logged, m => m.StartsWith("round1.stage1-curve: done in ", StringComparison.Ordinal));
        Assert.Contains(restart.Logged, m => m.StartsWith("before: ACC ", StringComparison.Ordinal));
        Assert.Contains(restart.Logged, m => m.StartsWith("round 1 · ", StringComparison.Ordinal) && m.Contains("ASR"));
        var lines = Lines(settings.ResultsPath);
        Assert.Equal(first, File.ReadAllLines(settings.ResultsPath).Take(2));
        Assert.Equal(allKeys.Order(), lines.Select(l => l["key"]!.GetValue<string>()).Order());
        // The badnet model was trained once (cell 0) and reused by its other defences, also across the restart.
        var badnet = lines.Where(l => l["attack"]!.GetValue<string>() == "badnet").ToList();
        Assert.Equal(1, badnet.Count(l => l["model"]!["training"]!["trained_now"]!.GetValue<bool>()));
        Assert.Single(badnet.Select(l => l["model"]!["key"]!.GetValue<string>()).Distinct());
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(settings.OutFolder, "models")).Length);
        // The results carry scores, rounds and curve samples (TSC: 2 curves × 3 points).
        var tsc = lines.First(l => l["defense"]!.GetValue<string>() == "tsc");
        Assert.InRange(tsc["acc_after"]!.GetValue<double>(), 0, 100);
        Assert.Equal(System.Text.Json.JsonValueKind.Number, JsonValueKind(tsc["asr_before"]));
        Assert.Single(tsc["rounds"]!.AsArray());
        var curves = tsc["curves"]!.AsArray();
        Assert.Equal(2, curves.Count);
        Assert.All(curves, c => Assert.Equal([0, 0.5, 1], c!["t"]!.AsArray().Select(t => t!.GetValue<double>())));

        // 3. Nothing left: a third run does nothing.
        var idle = ExperimentRunner.Run(plan, settings, new CancelAfter(int.MaxValue, new CancellationTokenSource()), CancellationToken.None);
        Assert.Equal(0, idle.RunNow);
        Assert.Equal(6, Lines(settings.ResultsPath).Count);

        // 4. A torn last line (killed mid-write) is cut off and its cell redone; nothing is duplicated.
        var bytes = File.ReadAllBytes(settings.ResultsPath);
        File.WriteAllBytes(settings.ResultsPath, bytes[..^40]);
        var lastKey = lines[^1]["key"]!.GetValue<string>();
        var repaired = ExperimentRunner.Run(plan, settings, new CancelAfter(int.MaxValue, new CancellationTokenSource()), CancellationToken.None);
        Assert.Equal(1, repaired.RunNow);
        var final = Lines(settings.ResultsPath);
        Assert.Equal(6, final.Count);
        Assert.Equal(allKeys.Order(), final.Select(l => l["key"]!.GetValue<string>()).Order());
        Assert.Equal(lastKey, final[^1]["key"]!.GetValue<string>());
        // The redone cell resumed its defence from its run folder instead of recomputing it.
        Assert.Equal(0, final[^1]["units_run"]!.GetValue<int>());
    }

    private static System.Text.Json.JsonValueKind JsonValueKind(JsonNode? node) => node?.GetValueKind() ?? System.Text.Json.JsonValueKind.Null;

    [Fact]
    public void WithKeepGoingAFailingCellIsReportedAndTheOtherCellsStillRun()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        // A second dataset, listed first, whose training images are cut short: the plan reader does not load data,
        // so its model fails to train mid-run, before the good dataset's cells.
        string broken = CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "broken"), trainCount: 300, testCount: 100);
        string images = Path.Combine(broken, "train-images-idx3-ubyte");
        File.WriteAllBytes(images, File.ReadAllBytes(images)[..1000]);
        var json = TinyPlans.Plan(data, trigger);
        json["datasets"] = new JsonArray("mnist:" + broken, data);
        json["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 0 });
        json["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 });
        var plan = TinyPlans.Write(dir, json);

        // Without --keep-going the first failure stops the plan: one line, no results.
        string stops = Path.Combine(dir, "stops");
        var stopped = CliHarness.Run("experiment", "run", plan, "--out", stops);
        Assert.True(stopped.ExitCode == 2 && Directory.Exists(stops), stopped.Stderr);
        Assert.Single(stopped.Stderr.Trim().Split('\n'));
        Assert.Empty(Lines(Path.Combine(stops, "results.jsonl")));

        string outFolder = Path.Combine(dir, "out");
        var run = CliHarness.Run("experiment", "run", plan, "--out", outFolder, "--keep-going");
        Assert.True(run.ExitCode == 1, run.Stdout + run.Stderr);
        Assert.Equal([2, 3], Lines(Path.Combine(outFolder, "results.jsonl")).Select(l => l["index"]!.GetValue<int>()).Order());
        Assert.Contains("[cell 0] ", run.Stdout);
        Assert.Contains("failed: ", run.Stdout);
        Assert.True(run.Stdout.Contains(images), run.Stdout); // the one-line error names the file
        // The model was tried once; its second cell says why it was not tried again.
        Assert.Contains("[cell 0] training the backdoored model", run.Stdout);
        Assert.DoesNotContain("[cell 1] training the backdoored model", run.Stdout);
        Assert.Contains("failed to train earlier in this run", run.Stdout);
        Assert.Contains("2 cell(s) failed (0, 1)", run.Stderr);
        string failures = File.ReadAllText(Path.Combine(outFolder, "failures.log"));
        Assert.Contains("cell 0 ", failures);
        Assert.Contains("cell 1 ", failures);
        Assert.Contains(" at ", failures); // the stack, for a bug report

        // Mended and rerun: only the failed cells run.
        CliHarness.WriteSyntheticMnistLayout(broken, trainCount: 300, testCount: 100);
        var rerun = CliHarness.Run("experiment", "run", plan, "--out", outFolder, "--keep-going");
        Assert.True(rerun.ExitCode == 0, rerun.Stderr);
        Assert.Contains("2 cells run", rerun.Stdout);
        Assert.Equal([0, 1, 2, 3], Lines(Path.Combine(outFolder, "results.jsonl")).Select(l => l["index"]!.GetValue<int>()).Order());
    }

    [Fact]
    public void ParallelShardedRunsThroughTheCliCoverThePlanOnce()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var json = TinyPlans.Plan(data, trigger);
        json["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 });
        var plan = TinyPlans.Write(dir, json);
        var outFolder = Path.Combine(dir, "out");
        var shards = new[] { "0/2", "1/2" }.Select(shard =>
        {
            var run = CliHarness.Run("experiment", "run", plan, "--out", outFolder, "--shard", shard, "--parallel", "2");
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains("ETA", run.Stdout);
            return Path.Combine(outFolder, $"results.shard-{shard[0]}-of-2.jsonl");
        }).ToList();
        var indices = shards.Select(s => Lines(s).Select(l => l["index"]!.GetValue<int>()).Order().ToList()).ToList();
        Assert.Equal([0, 2], indices[0]);
        Assert.Equal([1, 3], indices[1]);

        var dry = CliHarness.Run("experiment", "run", plan, "--out", outFolder, "--shard", "1/2", "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.Stderr);
        Assert.Contains("2 cells (shard 1/2), 2 done", dry.Stdout);

        var report = CliHarness.Run(["experiment", "report", .. shards, "--out", Path.Combine(dir, "report")]);
        Assert.True(report.ExitCode == 0, report.Stderr);
        Assert.Contains("4 results in 1 table(s)", report.Stdout);
    }

    [Fact]
    public async Task ShardsRunningAtOnceOnASharedCacheTrainTheirCommonModelOnce()
    {
        // Two cells of one model, one per shard; both shards start at once, as the tasks of a Slurm array do.
        var (dir, data, trigger) = TinyPlans.Folder();
        var document = TinyPlans.Plan(data, trigger);
        document["attacks"] = new JsonArray(new JsonObject { ["kind"] = "badnet", ["target"] = 0 });
        document["defenses"] = new JsonArray("none", new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 });
        document["training"]!["epochs"] = 10; // long enough for the second shard to find the first one training
        var plan = PlanReader.Read(TinyPlans.Write(dir, document));
        string cache = Path.Combine(dir, "cache");
        var observers = new[] { new CancelAfter(int.MaxValue, new CancellationTokenSource()), new CancelAfter(int.MaxValue, new CancellationTokenSource()) };
        using var start = new Barrier(2);
        var shards = Enumerable.Range(0, 2).Select(i => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            ExperimentRunner.Run(plan, new RunSettings(Path.Combine(dir, "out"), cache, Shard: new Shard(i, 2)), observers[i], CancellationToken.None);
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(shards);

        var logged = observers.SelectMany(o => o.Logged).ToList();
        Assert.Single(logged, m => m.StartsWith("training the backdoored model", StringComparison.Ordinal));
        Assert.Single(logged, m => m.StartsWith("waiting for another runner training the backdoored model", StringComparison.Ordinal));
        Assert.Equal(2, observers.Sum(o => o.Finished));
    }

    [Fact]
    public void AnAdaptiveCellTrainsAndStoresTheAdaptiveModel()
    {
        var line = RunSingleCell(new JsonObject
        {
            ["kind"] = "badnet", ["target"] = 0, ["adaptive_tsc"] = new JsonObject { ["epochs"] = 1, ["learning_rate"] = 0.01 },
        });
        Assert.Equal("badnet+adaptive", line["attack"]!.GetValue<string>());
        var model = Circumvent.Models.Checkpoints.ModelCheckpoint.Load(line["model"]!["path"]!.GetValue<string>());
        var stored = JsonNode.Parse(model.Extra[Circumvent.Method.Pipelines.BackdoorTraining.AdaptiveTscKey])!;
        Assert.Equal(1, stored["Epochs"]!.GetValue<int>());
        Assert.Equal(30, stored["BatchSize"]!.GetValue<int>());
        Assert.Contains("augmented", stored["BnStatistics"]!.GetValue<string>());
        Assert.NotNull(line["config"]!["model"]!["adaptive_tsc"]);
    }

    [Fact]
    public void AnInputAwareCellTrainsItsNetworksBesideTheCachedModelAndMeasuresAsr()
    {
        var line = RunSingleCell(new JsonObject { ["kind"] = "input-aware", ["target"] = 0, ["mask_epochs"] = 1 });
        Assert.Equal("input-aware", line["attack"]!.GetValue<string>());
        Assert.NotNull(line["asr_before"]?.GetValue<double>());
        string model = line["model"]!["path"]!.GetValue<string>();
        Assert.True(File.Exists(Circumvent.Attacks.InputAwareTraining.GeneratorsPath(model)));
    }

    [Fact]
    public void ALongerRecipeOrAnotherPoisoningRateReusesTheInputAwareMaskNetworkPreTrainedBefore()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        string cache = Path.Combine(dir, "cache");
        (JsonObject Line, List<string> Log) Run(string name, int epochs, int batchSize, double poisonRate = 0.1, double maskDensity = 0.032) =>
            RunCell(dir, TinyPlans.Plan(data, trigger), new JsonObject { ["kind"] = "input-aware", ["target"] = 0, ["mask_epochs"] = 2, ["mask_density"] = maskDensity },
                name, cache, json =>
                {
                    json["poison_rates"] = new JsonArray(poisonRate);
                    json["training"]!["epochs"] = epochs;
                    json["training"]!["batch_size"] = batchSize;
                });
        float[] MaskWeights(JsonObject line)
        {
            var networks = Circumvent.Attacks.InputAwareTraining.GeneratorsPath(line["model"]!["path"]!.GetValue<string>());
            return [.. Circumvent.Models.Checkpoints.SafeTensorsReader.Read(networks).Tensors
                .Where(t => t.Name.StartsWith(Circumvent.Attacks.InputAwareNetworks.MaskPrefix, StringComparison.Ordinal))
                .OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => t.Floats!)];
        }

        var shorter = Run("shorter", epochs: 1, batchSize: 30);
        Assert.Equal(2, shorter.Log.Count(m => m.StartsWith("mask epoch", StringComparison.Ordinal)));
        var longer = Run("longer", epochs: 2, batchSize: 30);
        Assert.NotEqual(shorter.Line["model"]!["key"]!.ToString(), longer.Line["model"]!["key"]!.ToString());
        Assert.DoesNotContain(longer.Log, m => m.StartsWith("mask epoch", StringComparison.Ordinal));
        Assert.Equal(MaskWeights(shorter.Line), MaskWeights(longer.Line));
        // The poisoning rate only matters to the joint training: the same mask again.
        var morePoison = Run("more-poison", epochs: 1, batchSize: 30, poisonRate: 0.2);
        Assert.DoesNotContain(morePoison.Log, m => m.StartsWith("mask epoch", StringComparison.Ordinal));
        Assert.Equal(MaskWeights(shorter.Line), MaskWeights(morePoison.Line));
        // Other batches, or another mask density, make another mask network: pre-trained again, kept beside the first.
        var otherBatches = Run("other-batches", epochs: 1, batchSize: 20);
        Assert.Equal(2, otherBatches.Log.Count(m => m.StartsWith("mask epoch", StringComparison.Ordinal)));
        var otherDensity = Run("other-density", epochs: 1, batchSize: 30, maskDensity: 0.05);
        Assert.Equal(2, otherDensity.Log.Count(m => m.StartsWith("mask epoch", StringComparison.Ordinal)));
        Assert.NotEqual(MaskWeights(shorter.Line), MaskWeights(otherDensity.Line));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(cache, "input-aware-masks"), "*.mask-state").Length);
    }

    [Fact]
    public void ADefencesFindingsAreInItsResultsLine()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        var (line, _) = RunCell(dir, TinyPlans.Plan(data, trigger), new JsonObject { ["kind"] = "badnet", ["target"] = 0 }, adjust: json =>
            json["defenses"] = new JsonArray(new JsonObject { ["name"] = "i-bau", ["ibau_rounds"] = 2, ["batch_size"] = 100 }));
        var norms = line["findings"]!["i-bau"]!["perturbation_l2_per_round"]!.AsArray();
        Assert.Equal(2, norms.Count);
        Assert.All(norms, n => Assert.True(n!.GetValue<double>() > 0));
    }

    [Fact]
    public void AMaskNetworkInTheCacheIsFoundAfterTheDataMovedAndNotForOtherData()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        string cache = Path.Combine(dir, "cache");
        (JsonObject Line, List<string> Log) Run(string name, string spec, int epochs) =>
            RunCell(dir, TinyPlans.Plan(spec, trigger), new JsonObject { ["kind"] = "input-aware", ["target"] = 0, ["mask_epochs"] = 2 },
                name, cache, json => json["training"]!["epochs"] = epochs);
        static int MaskEpochs(List<string> log) => log.Count(m => m.StartsWith("mask epoch", StringComparison.Ordinal));

        Assert.Equal(2, MaskEpochs(Run("first", data, epochs: 1).Log));
        string moved = Path.Combine(dir, "moved-data");
        Directory.Move(data["mnist:".Length..], moved);
        // Another recipe (so the model is trained again) on the moved data: the mask network is found, not pre-trained again.
        Assert.Equal(0, MaskEpochs(Run("moved", "mnist:" + moved, epochs: 2).Log));
        // Other images under the old name: another mask network.
        string other = Path.Combine(dir, "other-data");
        CliHarness.WriteSyntheticMnistLayout(other, trainCount: 300, testCount: 100);
        var bytes = File.ReadAllBytes(Path.Combine(other, "train-images-idx3-ubyte"));
        bytes[^1] ^= 0xff;
        File.WriteAllBytes(Path.Combine(other, "train-images-idx3-ubyte"), bytes);
        Assert.Equal(2, MaskEpochs(Run("other", "mnist:" + other, epochs: 1).Log));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(cache, "input-aware-masks"), "*.mask-state").Length);
    }

    [Fact]
    public void AnSsbaCellTrainsItsEncoderOnceInTheCacheAndAnotherRecipeReusesIt()
    {
        var (dir, _, trigger) = TinyPlans.Folder();
        string data = "cifar10:" + Circumvent.Tests.Cli.CliSsbaTests.WriteSyntheticCifar(Path.Combine(dir, "cifar"));
        string cache = Path.Combine(dir, "cache");
        var attack = new JsonObject { ["kind"] = "ssba", ["target"] = 0, ["fingerprint_bits"] = 8, ["encoder_width"] = 0.25, ["encoder_epochs"] = 2, ["encoder_learning_rate"] = 1e-3 };
        (JsonObject Line, List<string> Log) Run(string name, int epochs) =>
            RunCell(dir, TinyPlans.Plan(data, trigger), (JsonObject)attack.DeepClone(), name, cache, json =>
            {
                json["datasets"] = new JsonArray(data);
                json["training"]!["epochs"] = epochs;
            });
        byte[] Encoder(JsonObject line) => File.ReadAllBytes(Circumvent.Attacks.SsbaEncoder.PathBeside(line["model"]!["path"]!.GetValue<string>()));

        var first = Run("first", epochs: 1);
        Assert.Equal("ssba", first.Line["attack"]!.GetValue<string>());
        Assert.NotNull(first.Line["asr_before"]?.GetValue<double>());
        Assert.Equal(2, first.Log.Count(m => m.StartsWith("ssba-encoder epoch", StringComparison.Ordinal)));
        var second = Run("second", epochs: 2);
        Assert.NotEqual(first.Line["model"]!["key"]!.ToString(), second.Line["model"]!["key"]!.ToString());
        Assert.DoesNotContain(second.Log, m => m.StartsWith("ssba-encoder epoch", StringComparison.Ordinal));
        Assert.Equal(Encoder(first.Line), Encoder(second.Line));
        Assert.Single(Directory.GetFiles(Path.Combine(cache, "ssba-encoders"), "*.encoder-state"));
        Assert.Throws<PlanException>(() => PlanReader.Read(TinyPlans.Write(dir, new JsonObject
        {
            ["name"] = "bad", ["datasets"] = new JsonArray(data), ["architectures"] = new JsonArray("mlp"), ["poison_rates"] = new JsonArray(0.1),
            ["attacks"] = new JsonArray(new JsonObject { ["kind"] = "ssba", ["encoder_sha256"] = "00" }), ["defenses"] = new JsonArray("none"), ["seeds"] = new JsonArray(0),
        }, "bad.json")));
    }

    [Fact]
    public async Task TwoRunnersSharingACachePreTrainTheirCommonMaskNetworkOnce()
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        string cache = Path.Combine(dir, "cache");
        (JsonObject Line, List<string> Log) Run(string name, int epochs) =>
            RunCell(dir, TinyPlans.Plan(data, trigger), new JsonObject { ["kind"] = "input-aware", ["target"] = 0, ["mask_epochs"] = 3 },
                name, cache, json => json["training"]!["epochs"] = epochs);

        var runs = await Task.WhenAll(Task.Run(() => Run("one", epochs: 1)), Task.Run(() => Run("two", epochs: 2)));
        var logs = runs.SelectMany(r => r.Log).ToList();
        // Three mask epochs in all: one runner pre-trains, the other reuses the finished network.
        Assert.Equal(3, logs.Count(m => m.StartsWith("mask epoch", StringComparison.Ordinal)));
        Assert.Single(Directory.GetFiles(Path.Combine(cache, "input-aware-masks"), "*.mask-state"));
    }

    /// <summary>
    /// Runs <paramref name="json"/> (a tiny plan in <paramref name="dir"/>) as one cell of this attack, no defence, no
    /// curve sampling, after <paramref name="adjust"/>, with its output in DIR/NAME and an optional shared
    /// <paramref name="cache"/>; returns its results line and the runner's log.
    /// </summary>
    private static (JsonObject Line, List<string> Log) RunCell(string dir, JsonObject json, JsonObject attack, string name = "out",
        string? cache = null, Action<JsonObject>? adjust = null)
    {
        json["attacks"] = new JsonArray(attack);
        json["defenses"] = new JsonArray("none");
        json["curve_points"] = 0;
        adjust?.Invoke(json);
        var plan = PlanReader.Read(TinyPlans.Write(dir, json, name + ".json"));
        var observer = new CancelAfter(int.MaxValue, new CancellationTokenSource());
        var settings = new RunSettings(Path.Combine(dir, name), cache);
        ExperimentRunner.Run(plan, settings, observer, CancellationToken.None);
        return (Assert.Single(Lines(settings.ResultsPath)), observer.Logged);
    }

    /// <summary>Runs a tiny plan of one cell (this attack, no defence, no curve sampling) in a new folder; returns its results line.</summary>
    private static JsonObject RunSingleCell(JsonObject attack)
    {
        var (dir, data, trigger) = TinyPlans.Folder();
        return RunCell(dir, TinyPlans.Plan(data, trigger), attack).Line;
    }
}
