using System.Text.Json;
using System.Text.Json.Serialization;

namespace Circumvent.Data.Text;

/// <summary>
/// Captions made from labels, the recipe the TSC authors use for their ImageNet-100 image–text pairs
/// (imagenet.py::ImageNet100_ImageTextPair): image i of class c is captioned Templates[i mod 8] with one of c's
/// names (its class name or a synonym), and a class is recognised zero-shot by <see cref="Prompt"/> with its class
/// name. The vocabulary is every word of the templates, the prompt and the names, in first-seen order; a caption with a
/// word outside it cannot be encoded (<see cref="Tokenize"/> names the word). Recorded in checkpoints as JSON.
/// </summary>
public sealed class CaptionSet
{
    /// <summary>The eight templates of the authors' ImageNet-100 pairs (doc §1.10); "{}" stands for the class name.</summary>
    public static readonly string[] AuthorsTemplates =
    [
        "a photo of a clean {}.", "a photo of {}.", "a photo of the cool {}.", "a close-up photo of a {}.",
        "a good photo of a {}.", "a photo of the nice {}.", "a photo of the small {}.", "a photo of the weird {}.",
    ];

    /// <summary>The zero-shot prompt of CIFAR-10, STL-10 and VOC in the authors' zero_shot_test.</summary>
    public const string PhotoPrompt = "a photo of a {}.";

    /// <summary>Synonyms added for CIFAR-10's classes (doc §2.4), keyed by class name.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Cifar10Synonyms = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["airplane"] = ["plane", "aeroplane"],
        ["automobile"] = ["car"],
        ["ship"] = ["boat"],
    };

    private readonly Dictionary<string, int> _index;

    /// <param name="names">Per class, its names: the class name first, then its synonyms.</param>
    public CaptionSet(IReadOnlyList<string> templates, IReadOnlyList<IReadOnlyList<string>> names, string prompt)
    {
        if (templates.Count == 0) throw new ArgumentException("Captions need at least one template.");
        foreach (var template in templates.Append(prompt))
            if (template.Split("{}").Length != 2) throw new ArgumentException($"Caption template '{template}' must contain '{{}}' exactly once.");
        if (names.Count == 0) throw new ArgumentException("Captions need at least one class.");
        for (int c = 0; c < names.Count; c++)
            if (names[c].Count == 0 || names[c].Any(n => Words(n).Length == 0))
                throw new ArgumentException($"Class {c} needs a name made of words, got [{string.Join(", ", names[c])}].");
        Templates = [.. templates];
        Names = [.. names.Select(n => (IReadOnlyList<string>)[.. n])];
        Prompt = prompt;
        var vocabulary = new List<string>();
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in Templates.Append(Prompt).Concat(Names.SelectMany(n => n)))
            foreach (var word in Words(text.Replace("{}", " ")))
                if (_index.TryAdd(word, vocabulary.Count)) vocabulary.Add(word);
        Vocabulary = vocabulary;
    }

    public IReadOnlyList<string> Templates { get; }
    public IReadOnlyList<IReadOnlyList<string>> Names { get; }
    public string Prompt { get; }
    public IReadOnlyList<string> Vocabulary { get; }
    public int Classes => Names.Count;

    /// <summary>The captions of a labelled set with these class names: the authors' templates, CIFAR-10's synonyms where a name has them.</summary>
    public static CaptionSet ForClasses(IReadOnlyList<string> classNames, string prompt = PhotoPrompt) =>
        new(AuthorsTemplates, [.. classNames.Select(c => (IReadOnlyList<string>)[Readable(c), .. Cifar10Synonyms.GetValueOrDefault(c) ?? []])], prompt);

    /// <summary>Image <paramref name="index"/> of class <paramref name="label"/>: template index mod 8, then name (index / 8) mod the class's names.</summary>
    public string Caption(int index, int label)
    {
        CheckLabel(label);
        var names = Names[label];
        int template = (int)((uint)index % (uint)Templates.Count);
        int name = (int)((uint)index / (uint)Templates.Count % (uint)names.Count);
        return Fill(Templates[template], names[name]);
    }

    /// <summary>The zero-shot prompt of every class, with its class name (its first name).</summary>
    public string[] Prompts() => [.. Names.Select(n => Fill(Prompt, n[0]))];

    /// <summary>Every caption <see cref="Caption"/> can give, class-major, and the class of each.</summary>
    public (string[] Captions, int[] Classes) AllCaptions()
    {
        var captions = new List<string>();
        var classes = new List<int>();
        for (int c = 0; c < Classes; c++)
            foreach (var template in Templates)
                foreach (var name in Names[c]) { captions.Add(Fill(template, name)); classes.Add(c); }
        return ([.. captions], [.. classes]);
    }

    /// <summary>A caption's word indices in the vocabulary (lower-cased, split on spaces, '.' and ','); an unknown word is an error naming it.</summary>
    public int[] Tokenize(string caption)
    {
        var words = Words(caption);
        if (words.Length == 0) throw new ArgumentException($"Caption '{caption}' has no words.");
        var tokens = new int[words.Length];
        for (int i = 0; i < words.Length; i++)
            tokens[i] = _index.TryGetValue(words[i], out var t) ? t
                : throw new ArgumentException($"Caption '{caption}': the word '{words[i]}' is not in the vocabulary of {Vocabulary.Count} words (class names, synonyms and templates).");
        return tokens;
    }

    /// <summary>
    /// (N, V) row-major: row n is caption n's mean one-hot, so that rows · token embeddings (V, d) is the mean of its
    /// words' embeddings (the text tower's pooling, differentiable through one MatMul).
    /// </summary>
    public float[] BagOfWords(IReadOnlyList<string> captions)
    {
        int v = Vocabulary.Count;
        var bag = new float[captions.Count * v];
        for (int n = 0; n < captions.Count; n++)
        {
            var tokens = Tokenize(captions[n]);
            foreach (var t in tokens) bag[n * v + t] += 1f / tokens.Length;
        }
        return bag;
    }

    public string ToJson() => JsonSerializer.Serialize(new Stored(Templates, Names, Prompt, Vocabulary));

    /// <summary>Reads <see cref="ToJson"/>'s output; the vocabulary must be the one the templates and names give (the text tower's rows are in that order).</summary>
    public static CaptionSet FromJson(string json)
    {
        Stored stored;
        try { stored = JsonSerializer.Deserialize<Stored>(json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new FormatException($"caption settings are not valid JSON: {e.Message}"); }
        if (stored.Templates is null || stored.Names is null || stored.Prompt is null)
            throw new FormatException("caption settings need 'templates', 'names' and 'prompt'.");
        var set = new CaptionSet(stored.Templates, stored.Names, stored.Prompt);
        if (stored.Vocabulary is { } vocabulary && !vocabulary.SequenceEqual(set.Vocabulary))
            throw new FormatException($"caption settings list a vocabulary of {vocabulary.Count} words that differs from the {set.Vocabulary.Count} its templates and names give.");
        return set;
    }

    private sealed record Stored(
        [property: JsonPropertyName("templates")] IReadOnlyList<string> Templates,
        [property: JsonPropertyName("names")] IReadOnlyList<IReadOnlyList<string>> Names,
        [property: JsonPropertyName("prompt")] string Prompt,
        [property: JsonPropertyName("vocabulary")] IReadOnlyList<string>? Vocabulary);

    private void CheckLabel(int label)
    {
        if ((uint)label >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(label), label, $"Class {label} is outside the captions' 0..{Classes - 1}.");
    }

    private static string Fill(string template, string name) => template.Replace("{}", name);

    // "maple_tree" → "maple tree": dataset class names may use underscores.
    private static string Readable(string className) => className.Replace('_', ' ');

    private static string[] Words(string text) =>
        text.ToLowerInvariant().Split([' ', '.', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
}
