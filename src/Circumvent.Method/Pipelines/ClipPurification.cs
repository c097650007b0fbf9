using System.Text.Json.Nodes;
using Circumvent.Attacks;
using Circumvent.Data;
using Circumvent.Method.Evaluation;
using Circumvent.Models;
using Circumvent.Models.Checkpoints;
using Circumvent.Training;

namespace Circumvent.Method.Pipelines;

/// <summary>
/// What purifying a small CLIP changes against a classifier's purification (doc §1.5, §1.10): the defence sees the image
/// tower alone (<see cref="ClipImageTower"/>, "visual.*"), so curves, permutations and fine-tuning never touch the text
/// tower or the logit scale; its permutation spec leaves the backbone's last stream and the projection to the joint space
/// unpermuted (<see cref="Permutations.PermutationSpecs"/>); the loss is the symmetric InfoNCE against the frozen text
/// tower's caption embeddings at the model's fixed logit scale (<see cref="ClipObjective.FrozenText"/>); every stage is
/// scored zero-shot (<see cref="ZeroShotClassifier"/>). The purified image tower is put back beside the untouched text
/// tower and scale in one file.
/// </summary>
public static class ClipPurification
{
    /// <param name="Objective">The frozen-text InfoNCE the curves and fine-tuning minimise.</param>
    /// <param name="Evaluate">Zero-shot ACC (and ASR with the attack) of image-tower weights.</param>
    public sealed record Setup(ClipImageTower Image, ParameterSet ImageParameters, ClipObjective Objective, Func<ParameterSet, BackdoorScores> Evaluate);

    public static Setup Create(string modelPath, ModelCheckpoint checkpoint, ImageDataset test, Normalization normalization, IAttack? attack,
        CancellationToken cancellation = default)
    {
        var clip = checkpoint.Clip ?? throw new ArgumentException($"--model '{modelPath}' is not a CLIP model.");
        var captions = ClipPretraining.Captions(modelPath, checkpoint);
        if (captions.Classes != test.NumClasses)
            throw new ArgumentException($"--model '{modelPath}' has prompts for {captions.Classes} classes; the data has {test.NumClasses}.");
        var classifier = ZeroShotClassifier.For(clip, checkpoint.Parameters, captions);
        var tests = BackdoorTestSet.Create(test, normalization, attack);
        return new Setup(clip.Image, ClipImageTower.View(checkpoint.Parameters), ClipObjective.FrozenText(clip, checkpoint.Parameters, captions),
            p => BackdoorMetrics.Evaluate(classifier, p, tests, cancellation: cancellation));
    }

    /// <summary>The whole model with its image tower replaced by <paramref name="image"/> (text tower and logit scale as they were).</summary>
    public static ParameterSet Merge(ParameterSet model, ParameterSet image)
    {
        var merged = new ParameterSet();
        foreach (var e in model) merged.Add(e.Name, image.Contains(e.Name) ? image[e.Name] : e.Tensor, e.Role);
        return merged;
    }

    /// <summary>What a CLIP run folder records beside the model and data: its objective and how it is scored.</summary>
    public static JsonObject Identity(ClipObjective objective) => new()
    {
        ["objective"] = EncoderPurification.Clip,
        ["loss"] = "symmetric InfoNCE against the frozen text tower",
        ["logit_scale"] = objective.FixedScale,
        ["scoring"] = "zero-shot top-1 of 100*cos(image, prompt)",
    };
}
