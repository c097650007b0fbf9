using Circumvent.Data;

namespace Circumvent.Tests.Data;

/// <summary>--normalize's text forms, and how a normalisation is shown and given back.</summary>
public class NormalizeOptionTests
{
    [Theory]
    [InlineData("0.5,0.5", new[] { 0.5f }, new[] { 0.5f })]
    [InlineData(" 0.4914,0.4822,0.4465 / 0.247,0.243,0.261 ", new[] { 0.4914f, 0.4822f, 0.4465f }, new[] { 0.247f, 0.243f, 0.261f })]
    [InlineData("None", new[] { 0f }, new[] { 1f })]
    [InlineData("0.1307/0.3081", new[] { 0.1307f }, new[] { 0.3081f })]
    public void ParsesEveryForm(string text, float[] mean, float[] std)
    {
        var n = Normalization.Parse(text);
        Assert.Equal(mean, n.Mean);
        Assert.Equal(std, n.Std);
    }

    [Theory]
    [InlineData("0.5", "two numbers")]
    [InlineData("0.5,0.5,0.5", "two numbers")]
    [InlineData("0.1,0.2/0.5", "as many stds as means")]
    [InlineData("a,0.5", "numbers, found 'a'")]
    [InlineData("0.5,0", "positive stds")]
    [InlineData("0.5,NaN", "numbers")]
    public void RefusesMalformedText(string text, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => Normalization.Parse(text));
        Assert.Contains("--normalize", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void OneValueStandsForEveryChannelButAWrongCountIsRefused()
    {
        var rgb = Normalization.Parse("0.5,0.25").ForChannels(3);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, rgb.Mean);
        Assert.Equal(new[] { 0.25f, 0.25f, 0.25f }, rgb.Std);
        Assert.Contains("3 values", Assert.Throws<ArgumentException>(() => Normalization.Cifar10.ForChannels(1)).Message);
    }

    [Theory]
    [InlineData("0.5,0.5", "mean 0.5 std 0.5")]
    [InlineData("none", "raw [0, 1]")]
    [InlineData("0.4914,0.4822,0.4465/0.247,0.243,0.261", "mean 0.4914,0.4822,0.4465 std 0.247,0.243,0.261")]
    [InlineData("0.1,0.2,0.3/0.5,0.5,0.5", "mean 0.1,0.2,0.3 std 0.5")]
    public void DescribesAndRoundTripsThroughTheOptionText(string text, string described)
    {
        var n = Normalization.Parse(text).ForChannels(3);
        Assert.Equal(described, n.Describe());
        var again = Normalization.Parse(n.OptionText()).ForChannels(3);
        Assert.Equal(n.Mean, again.Mean);
        Assert.Equal(n.Std, again.Std);
    }
}
