using Circumvent.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace Circumvent.Tests.Repository;

/// <summary>CITATION.cff is valid YAML with the keys CFF 1.2.0 requires, and cites the TSC paper; LICENSE is MIT.</summary>
public class CitationFileTests
{
    private static YamlMappingNode Load()
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(RepositoryRoot.File("CITATION.cff"));
        stream.Load(reader);
        return (YamlMappingNode)Assert.Single(stream.Documents).RootNode;
    }

    private static string Text(YamlMappingNode map, string key) =>
        Assert.IsType<YamlScalarNode>(map.Children[new YamlScalarNode(key)]).Value ?? "";

    [Fact]
    public void CitationFileHasTheRequiredKeysAndCitesThePaper()
    {
        var root = Load();
        // CFF 1.2.0's required keys.
        Assert.Equal("1.2.0", Text(root, "cff-version"));
        Assert.NotEmpty(Text(root, "message"));
        Assert.NotEmpty(Text(root, "title"));
        Assert.NotEmpty(Assert.IsType<YamlSequenceNode>(root.Children[new YamlScalarNode("authors")]).Children);
        Assert.Equal("MIT", Text(root, "license"));

        var paper = Assert.IsType<YamlMappingNode>(root.Children[new YamlScalarNode("preferred-citation")]);
        Assert.Equal("Circumventing Backdoor Space via Weight Symmetry", Text(paper, "title"));
        Assert.Equal("2025", Text(paper, "year"));
        var authors = Assert.IsType<YamlSequenceNode>(paper.Children[new YamlScalarNode("authors")]).Children.Cast<YamlMappingNode>().ToList();
        Assert.Equal("Peng", Text(authors[0], "family-names"));
        Assert.All(authors, a => Assert.NotEmpty(Text(a, "family-names")));
    }

    [Fact]
    public void LicenseIsMitForTheCircumventAuthors()
    {
        string license = File.ReadAllText(RepositoryRoot.File("LICENSE"));
        Assert.StartsWith("MIT License", license);
        Assert.Contains("The Circumvent authors", license);
    }
}
