using System.Reflection;
using System.Text.RegularExpressions;
using Circumvent.Method.Pipelines;
using Circumvent.Models.Checkpoints;
using Circumvent.Tests.Cli;
using Circumvent.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Circumvent.Tests.Repository;

/// <summary>
/// The README's C# example compiles against the built libraries as a console program would (with
/// .NET's implicit usings), and, pointed at a tiny .pth and data set with quick settings, purifies it.
/// </summary>
public class ReadmeExampleTests
{
    // What the example names, and what the test runs instead: the files of a tiny problem, 1 short TSC round.
    private const string PaperSettings = "new TscOptions()";
    private const string QuickSettings = "new TscOptions { Rounds = 1, Curve = new Circumvent.Method.Curves.CurveOptions { Epochs = 1, BatchSize = 32 }, " +
                                         "FineTune = new Circumvent.Method.Curves.FineTuneOptions { Epochs = 1, BatchSize = 32 } }";

    // The global usings of a `dotnet new console` project (ImplicitUsings).
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static string ExampleFromReadme()
    {
        var blocks = Regex.Matches(File.ReadAllText(RepositoryRoot.File("README.md")), "```csharp\n(.*?)```", RegexOptions.Singleline);
        return Assert.Single(blocks).Groups[1].Value;
    }

    private static Assembly Compile(string code)
    {
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var references = Directory.GetFiles(framework, "*.dll").Where(IsManaged)
            .Concat([typeof(Purification).Assembly.Location, typeof(ModelCheckpoint).Assembly.Location, typeof(Circumvent.Engine.Tensor).Assembly.Location,
                     typeof(Circumvent.Data.DatasetSpec).Assembly.Location, typeof(Circumvent.Training.Trainer).Assembly.Location,
                     typeof(Circumvent.Attacks.IAttack).Assembly.Location])
            .Select(path => MetadataReference.CreateFromFile(path));
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create("ReadmeExample",
            [CSharpSyntaxTree.ParseText(ImplicitUsings, parse), CSharpSyntaxTree.ParseText(code, parse)], references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        var problems = emitted.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();
        Assert.True(emitted.Success && problems.Count == 0, "the README's example does not compile cleanly:\n" + string.Join("\n", problems));
        return Assembly.Load(image.ToArray());
    }

    private static bool IsManaged(string path)
    {
        try { AssemblyName.GetAssemblyName(path); return true; }
        catch (BadImageFormatException) { return false; }
    }

    [Fact]
    public void TheReadmesCSharpExampleCompilesAndPurifiesATinyPthModel()
    {
        string example = ExampleFromReadme();
        var (dir, data, pth) = PyTorchCliTests.Setup();
        string output = Path.Combine(dir, "purified.safetensors"), runFolder = Path.Combine(dir, "purified.run");
        foreach (var (shown, used) in new[]
                 {
                     ("\"backdoored.pth\"", Literal(pth)), ("\"cifar10:/data/cifar10\"", Literal(data)),
                     ("\"purified.safetensors\"", Literal(output)), ("\"purified.run\"", Literal(runFolder)), (PaperSettings, QuickSettings),
                 })
        {
            Assert.Contains(shown, example);
            example = example.Replace(shown, used);
        }

        var entry = Compile(example).EntryPoint!;
        entry.Invoke(null, entry.GetParameters().Length == 0 ? [] : [Array.Empty<string>()]);

        var purified = ModelCheckpoint.Load(output);
        Assert.Equal("mlp", purified.Architecture.Name);
        Assert.Contains("\"defense\":\"tsc\"", purified.Extra[Purification.DefenseKey]);
        Assert.True(File.Exists(Path.Combine(runFolder, "config.json")));
    }

    private static string Literal(string text) => SymbolDisplay.FormatLiteral(text, quote: true);
}
