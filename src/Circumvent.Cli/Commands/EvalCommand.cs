using System.CommandLine;
using System.Globalization;
using Circumvent.Data;
using Circumvent.Data.Loading;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Cli.Commands;

/// <summary>`circumvent eval`: top-1 test accuracy of a checkpoint on a dataset.</summary>
internal static class EvalCommand
{
    public static Command Create(CliConsole console)
    {
        var model = Options.Required("--model", "Checkpoint (.safetensors) written by `circumvent train`.");
        var data = Options.Required("--data", "Dataset as KIND[:PATH]; its test split is evaluated.");
        var batchSize = Options.Make("--batch-size", "Evaluation batch size.", 256);
        var json = Options.Json();
        var command = new Command("eval", "Evaluate a checkpoint's test accuracy.") { model, data, batchSize, json };
        command.SetAction(parse =>
        {
            int batch = parse.GetValue(batchSize);
            if (batch <= 0) throw new UsageException($"--batch-size must be at least 1, got {batch}.");
            double accuracy = Evaluate(parse.Value(model), parse.Value(data), batch);
            string percent = (accuracy * 100).ToString("0.##", CultureInfo.InvariantCulture);
            console.Out.WriteLine(parse.GetValue(json) ? $"{{\"acc\": {percent}}}" : $"test accuracy {percent}%");
            return 0;
        });
        return command;
    }

    public static double Evaluate(string modelPath, string dataText, int batchSize)
    {
        if (!File.Exists(modelPath))
            throw new UsageException($"--model '{modelPath}': file not found.");
        var spec = DatasetSpec.Parse(dataText);
        var checkpoint = ModelCheckpoint.Load(modelPath);
        var dataset = spec.Load();
        var test = dataset.Test;
        var arch = checkpoint.Architecture;
        if (test.Channels != arch.InChannels || test.Height != arch.Height || test.Width != arch.Width)
            throw new UsageException(
                $"--model '{modelPath}' expects {arch.InChannels}×{arch.Height}×{arch.Width} images but {spec.Kind} has {test.Channels}×{test.Height}×{test.Width}.");
        if (dataset.NumClasses != arch.Classes)
            throw new UsageException($"--model '{modelPath}' has {arch.Classes} classes but {spec.Kind} has {dataset.NumClasses}.");
        // The checkpoint's own normalisation wins: it is what the network was trained with.
        var normalization = checkpoint.NormalizationMean is { } mean
            ? new Normalization(mean, checkpoint.NormalizationStd!)
            : dataset.Normalization;
        var source = new BatchLoaderSource(new BatchLoader(test, normalization, BatchLoaderOptions.Evaluation(batchSize)));
        return Evaluator.Accuracy(Architectures.Create(arch), checkpoint.Parameters, source);
    }
}
