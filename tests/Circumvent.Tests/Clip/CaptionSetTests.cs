using Circumvent.Data.Text;

namespace Circumvent.Tests.Clip;

public class CaptionSetTests
{
    private static readonly string[] Cifar10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    [Fact]
    public void CaptionsFollowTheAuthorsTemplateOfIndexModEight()
    {
        var set = CaptionSet.ForClasses(Cifar10);
        Assert.Equal("a photo of a clean truck.", set.Caption(0, 9));
        Assert.Equal("a photo of the weird truck.", set.Caption(7, 9));
        Assert.Equal("a photo of a clean truck.", set.Caption(8, 9)); // truck has no synonym: names cycle over one
        // airplane's names: airplane, plane, aeroplane; image 8 is the second round of templates, so the second name.
        Assert.Equal("a photo of a clean airplane.", set.Caption(0, 0));
        Assert.Equal("a photo of a clean plane.", set.Caption(8, 0));
        Assert.Equal("a photo of {}.".Replace("{}", "aeroplane"), set.Caption(17, 0));
        Assert.Equal("a photo of a clean car.", set.Caption(8, 1));
    }

    [Fact]
    public void PromptsUseTheClassName()
    {
        var prompts = CaptionSet.ForClasses(Cifar10).Prompts();
        Assert.Equal(10, prompts.Length);
        Assert.Equal("a photo of a truck.", prompts[9]);
        Assert.Equal("a photo of a automobile.", prompts[1]);
    }

    [Fact]
    public void AllCaptionsCoverTemplatesTimesNames()
    {
        var (captions, classes) = CaptionSet.ForClasses(Cifar10).AllCaptions();
        // 8 templates × (10 class names + 2 airplane synonyms + 1 car + 1 boat).
        Assert.Equal(8 * 14, captions.Length);
        Assert.Equal(24, classes.Count(c => c == 0));
        Assert.Contains("a good photo of a boat.", captions);
    }

    [Fact]
    public void TokenizerMapsWordsAndRefusesUnknownOnesByName()
    {
        var set = CaptionSet.ForClasses(Cifar10);
        var tokens = set.Tokenize("A photo of a TRUCK.");
        Assert.Equal(5, tokens.Length);
        Assert.Equal(tokens[1 - 1], tokens[3]); // "a" twice
        Assert.Equal("truck", set.Vocabulary[tokens[4]]);
        var e = Assert.Throws<ArgumentException>(() => set.Tokenize("a photo of a zebra."));
        Assert.Contains("'zebra'", e.Message);
    }

    [Fact]
    public void BagOfWordsRowsAreMeanOneHots()
    {
        var set = CaptionSet.ForClasses(Cifar10);
        var bag = set.BagOfWords(["a photo of a cat.", "a photo of the small dog."]);
        int v = set.Vocabulary.Count;
        Assert.Equal(2 * v, bag.Length);
        Assert.Equal(1f, bag.AsSpan(0, v).ToArray().Sum(), 5);
        Assert.Equal(2f / 5, bag[set.Tokenize("a")[0]], 5);
        Assert.Equal(1f / 6, bag[v + set.Tokenize("dog")[0]], 5);
    }

    [Fact]
    public void JsonRoundTripKeepsTheVocabularyOrder()
    {
        var set = CaptionSet.ForClasses(Cifar10);
        var back = CaptionSet.FromJson(set.ToJson());
        Assert.Equal(set.Vocabulary, back.Vocabulary);
        Assert.Equal(set.Caption(13, 0), back.Caption(13, 0));
        var edited = set.ToJson().Replace("\"truck\"]", "\"lorry\"]");
        Assert.Throws<FormatException>(() => CaptionSet.FromJson(edited.Replace("\"vocabulary\":[", "\"vocabulary\":[\"x\",")));
    }

    [Fact]
    public void TemplatesMustHaveOnePlaceholder()
    {
        Assert.Throws<ArgumentException>(() => new CaptionSet(["a photo"], [["cat"]], CaptionSet.PhotoPrompt));
    }
}
