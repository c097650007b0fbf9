using System.Text.Json;
using Circumvent.Data;

namespace Circumvent.Tests.Data;

/// <summary>Locations in a run's key: found among its JSON strings, masked by kind, and nothing else touched.</summary>
public sealed class InputLocationsTests
{
    [Theory]
    [InlineData("/data/t.png", true, "", "/data/t.png")]
    [InlineData("cifar10:/data/cifar10", true, "cifar10", "/data/cifar10")]
    [InlineData("folder:/x y/images", true, "folder", "/x y/images")]
    [InlineData("cifar10:data/cifar10", false, "", "")]   // relative: compared as written
    [InlineData("fashion-mnist", false, "", "")]
    public void TellsPlacesFromOtherSettings(string text, bool expected, string kind, string path)
    {
        Assert.Equal(expected, InputLocations.IsLocation(text, out var k, out var p));
        if (expected) { Assert.Equal(kind, k); Assert.Equal(path, p); }
    }

    [Fact]
    public void KeysThatDifferOnlyInPlacesOfOneKindMaskEqual()
    {
        string Key(string data, string trigger, double lr) =>
            JsonSerializer.Serialize(new { data, lr }) + "blended α 0.2" + JsonSerializer.Serialize(new { trigger_image = trigger, note = "a \"quoted\" /word" });
        string a = Key("cifar10:/a/cifar10", "/a/t.png", 0.1);
        Assert.Equal(InputLocations.WithoutPlaces(a), InputLocations.WithoutPlaces(Key("cifar10:/elsewhere/c", "/b/t 2.png", 0.1)));
        Assert.NotEqual(InputLocations.WithoutPlaces(a), InputLocations.WithoutPlaces(Key("gtsrb:/a/cifar10", "/a/t.png", 0.1)));
        Assert.NotEqual(InputLocations.WithoutPlaces(a), InputLocations.WithoutPlaces(Key("cifar10:/a/cifar10", "/a/t.png", 0.2)));
        Assert.NotEqual(InputLocations.WithoutPlaces(a), InputLocations.WithoutPlaces(Key("cifar10:a/cifar10", "/a/t.png", 0.1)));
        Assert.Equal(["/a/cifar10", "/a/t.png"], InputLocations.Paths(a));
        Assert.Contains("blended α 0.2", InputLocations.WithoutPlaces(a));
    }

    [Fact]
    public void EscapedPathsAreDecodedBeforeTheyAreJudged()
    {
        string key = JsonSerializer.Serialize(new { file = "/data/\"odd\"\\name.png" });
        Assert.Equal(["/data/\"odd\"\\name.png"], InputLocations.Paths(key));
        Assert.Equal("{\"file\":\"<location>\"}", InputLocations.WithoutPlaces(key));
    }
}
