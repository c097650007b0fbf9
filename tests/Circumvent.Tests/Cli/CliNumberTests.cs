using System.CommandLine;
using System.CommandLine.Parsing;
using Circumvent.Cli;

namespace Circumvent.Tests.Cli;

/// <summary>
/// Numbers on the command line are read in the invariant culture, whole or refused: "1,5" once trained at
/// lr 15 and "--t 0,4" was refused as "got 4", with .NET type names in the message (issue #20).
/// </summary>
public class CliNumberTests
{
    /// <summary>Every (command path, option) of the tree whose value is a number.</summary>
    public static TheoryData<string[], string> NumericOptions()
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null, interactive: false, CancellationToken.None);
        var data = new TheoryData<string[], string>();
        void Walk(Command command, string[] path)
        {
            foreach (var option in command.Options.Where(o => NumberOptions.IsNumeric(o.ValueType)))
                data.Add(path, option.Name);
            foreach (var sub in command.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        Walk(app.Root, []);
        return data;
    }

    [Theory]
    [InlineData("train", "--lr")]
    [InlineData("purify", "--t")]
    [InlineData("eval", "--width")]
    [InlineData("curve", "--points")]
    [InlineData("demo", "--curve-epochs")]
    [InlineData("bench curve", "--images")]
    [InlineData("experiment run", "--parallel")]
    public void TheWalkFindsTheNumericOptionsOfEveryCommand(string command, string option) =>
        Assert.Contains(NumericOptions(), row => string.Join(" ", (string[])row[0]) == command && (string)row[1] == option);

    [Theory]
    [MemberData(nameof(NumericOptions))]
    public void DecimalCommaAndTrailingGarbageAreRefusedInTheUsersWords(string[] command, string option)
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null, interactive: false, CancellationToken.None);
        foreach (var text in new[] { "1,5", "2x", "NaN" })
        {
            var errors = app.Root.Parse([.. command, option, text]).Errors.Select(e => e.Message).ToList();
            string error = Assert.Single(errors, e => e.Contains(option, StringComparison.Ordinal) && e.Contains($"'{text}'", StringComparison.Ordinal));
            Assert.Contains("number such as", error);
            Assert.DoesNotContain(errors, e => e.Contains("System.", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void NoParseErrorOfAnyOptionNamesADotNetType()
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null, interactive: false, CancellationToken.None);
        void Walk(Command command, string[] path)
        {
            foreach (var option in command.Options)
            {
                var errors = app.Root.Parse([.. path, option.Name, "1,5x"]).Errors;
                Assert.DoesNotContain(errors, e => e.Message.Contains("System.", StringComparison.Ordinal) || e.Message.Contains("`1", StringComparison.Ordinal));
            }
            foreach (var sub in command.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        Walk(app.Root, []);
    }

    [Theory]
    [MemberData(nameof(NumericOptions))]
    public void InvariantNumbersAreAccepted(string[] command, string option)
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null, interactive: false, CancellationToken.None);
        var parse = app.Root.Parse([.. command, option, "3"]);
        Assert.DoesNotContain(parse.Errors, e => e.Message.Contains(option, StringComparison.Ordinal));
        Assert.Equal(3.0, Convert.ToDouble(((OptionResult)parse.GetResult(option)!).GetValueOrDefault<object>()));
    }

    [Theory]
    [InlineData("--finetune-lr", "1,5")]
    [InlineData("--curve-lr", "0,02")]
    [InlineData("--t", "0,4")]
    public void PurifyDecimalCommaIsOneLineExitTwo(string option, string value)
    {
        var dir = CliHarness.TempFolder();
        var output = Path.Combine(dir, "p.safetensors");
        var run = CliHarness.Run("purify", "--model", Path.Combine(dir, "m.safetensors"), "--data", "mnist:" + dir, "--out", output, option, value);
        Assert.Equal(2, run.ExitCode);
        string line = Assert.Single(run.StderrLines);
        Assert.Contains($"{option} expects a number such as 0.5, got '{value}' (use '.' as the decimal point)", line);
        Assert.DoesNotContain("System.", line);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void TheDecimalPointStillWorks()
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null, interactive: false, CancellationToken.None);
        var parse = app.Root.Parse(["purify", "--model", "m", "--data", "d", "--out", "o", "--t", "0.4", "--finetune-lr", "1e-4"]);
        Assert.Empty(parse.Errors);
        Assert.Equal(0.4, parse.GetValue<double?>("--t"));
        Assert.Equal(1e-4, parse.GetValue<double?>("--finetune-lr"));
    }

    [Theory]
    [InlineData("256,1.5", "'1.5'")]
    [InlineData("256;512", "'256;512'")]
    public void GemmSizesAreCommaSeparatedWholeNumbers(string sizes, string named)
    {
        var run = CliHarness.Run("bench", "gemm", "--sizes", sizes);
        Assert.Equal(2, run.ExitCode);
        string line = Assert.Single(run.StderrLines);
        Assert.Contains("--sizes expects comma-separated positive whole numbers", line);
        Assert.Contains(named, line);
    }
}
