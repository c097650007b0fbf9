using System.CommandLine;
using Circumvent.Data;
using Circumvent.Method.Evaluation;
using Circumvent.Method.Pipelines;
using Circumvent.Models;

namespace Circumvent.Cli.Commands;

/// <summary>
/// How `eval` and `purify` score an encoder (a checkpoint with role "encoder"): kNN on --data's test split with its
/// training split as memory, and probes trained on frozen features of a --downstream dataset (ACC on its test split, ASR
/// with the attack options on its triggered non-target test images).
/// </summary>
internal sealed class EncoderOptions
{
    private readonly ProbeOptions _defaults = new();

    private readonly Option<string?> _downstream = new("--downstream")
    {
        Description = "Encoders: downstream dataset KIND[:PATH] of the probes (e.g. gtsrb:DIR, imagefolder:DIR, cifar10:DIR); default for purify: --data.",
    };

    private readonly Option<string> _probe = Options.Make("--probe", "Encoders: probes trained on frozen features: mlp (the authors' in→512→256→C, dropout 0.5), linear, or mlp,linear.", "mlp,linear");
    private readonly Option<int> _probeEpochs;
    private readonly Option<double> _probeLr;

    public EncoderOptions()
    {
        _probeEpochs = Options.Make("--probe-epochs", "Encoders: epochs each probe trains (Adam, batch 256; the authors run 200).", _defaults.Epochs);
        _probeLr = Options.Make("--probe-lr", "Encoders: the probes' Adam learning rate.", _defaults.LearningRate);
    }

    public void AddTo(Command command)
    {
        command.Options.Add(_downstream);
        command.Options.Add(_probe);
        command.Options.Add(_probeEpochs);
        command.Options.Add(_probeLr);
    }

    /// <summary>Whether any of these options was given (a classifier refuses them).</summary>
    public bool AnyGiven(ParseResult parse) =>
        new Option[] { _downstream, _probe, _probeEpochs, _probeLr }.Any(o => parse.GetResult(o) is { Implicit: false });

    /// <summary>The scoring these options ask for, checked before anything is loaded.</summary>
    public EncoderScoring Parse(ParseResult parse, int seed = 0)
    {
        string? downstream = parse.GetValue(_downstream);
        if (downstream is not null)
        {
            try { DatasetSpec.Parse(downstream); }
            catch (ArgumentException e) { throw new UsageException($"--downstream: {e.Message}"); }
        }
        var kinds = new List<ProbeKind>();
        foreach (var word in (parse.GetValue(_probe) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var kind = word.ToLowerInvariant() switch
            {
                "mlp" => ProbeKind.Mlp,
                "linear" => ProbeKind.Linear,
                _ => throw new UsageException($"--probe must list mlp and/or linear (comma-separated), got '{word}'."),
            };
            if (!kinds.Contains(kind)) kinds.Add(kind);
        }
        var probe = _defaults with { Kinds = kinds, Epochs = parse.GetValue(_probeEpochs), LearningRate = parse.GetValue(_probeLr), Seed = seed };
        try { probe.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        return new EncoderScoring(downstream, probe);
    }
}
