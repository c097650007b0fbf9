using System.Diagnostics;
using System.Reflection;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Repository;

/// <summary>
/// The tool package installs and runs as a user would get it: `dotnet pack` of the CLI into a temp
/// folder, `dotnet tool install --tool-path` from that folder alone (a nuget.config that clears every
/// other source, and an empty package cache, so nothing comes from the network or from an earlier
/// install), then the installed `circumvent --help` and `--version`. About 30 s on a shared 2-core machine.
/// </summary>
[Trait("Category", "Packaging")]
public class ToolPackageTests
{
    // Generous: pack and install take ~30 s on an idle 2-core machine, over 90 s when it is busy.
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    [Fact]
    public void PackedToolInstallsFromALocalFolderAndRuns()
    {
        using var temp = new Circumvent.Tests.Data.TempFolder();
        string packages = temp.File("nupkg"), tools = temp.File("tools"), config = temp.File("nuget.config");
        // The configuration the tests were built with, whose build of the CLI is packed as it is.
        string configuration = typeof(ToolPackageTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;

        var pack = Dotnet(temp.Path, "pack", RepositoryRoot.File("src", "Circumvent.Cli", "Circumvent.Cli.csproj"), "-c", configuration, "--no-build",
            "-o", packages, "-nologo", "-v", "quiet");
        Assert.True(pack.ExitCode == 0, pack.Output);
        string package = Path.GetFileName(Assert.Single(Directory.GetFiles(packages, "*.nupkg")));
        Assert.Matches(@"^Circumvent\.\d+\.\d+\.\d+\.nupkg$", package);
        string version = package["Circumvent.".Length..^".nupkg".Length];

        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var install = Dotnet(temp.Path, "tool", "install", "--tool-path", tools, "--configfile", config, "circumvent");
        Assert.True(install.ExitCode == 0, install.Output);
        Assert.Contains($"'circumvent' (version '{version}')", install.Output);

        var help = Run(Path.Combine(tools, "circumvent"), temp.Path, "--help");
        Assert.True(help.ExitCode == 0, help.Output);
        Assert.Contains("Usage:", help.Output);
        foreach (var command in new[] { "train", "eval", "purify", "curve", "experiment" }) Assert.Contains(command, help.Output);
        var versionRun = Run(Path.Combine(tools, "circumvent"), temp.Path, "--version");
        Assert.StartsWith(version, versionRun.Output.Trim());
    }

    private sealed record Outcome(int ExitCode, string Output);

    /// <summary>The dotnet CLI with a package cache of its own under <paramref name="folder"/> and without the test host's MSBuild settings.</summary>
    private static Outcome Dotnet(string folder, params string[] args) =>
        Run("dotnet", folder, args, info =>
        {
            info.Environment["NUGET_PACKAGES"] = Path.Combine(folder, "package-cache");
            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            info.Environment["DOTNET_NOLOGO"] = "1";
            foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
                info.Environment.Remove(key);
        });

    private static Outcome Run(string program, string folder, params string[] args) => Run(program, folder, args, null);

    private static Outcome Run(string program, string folder, string[] args, Action<ProcessStartInfo>? configure)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        configure?.Invoke(info);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} still running after {Limit.TotalSeconds} s");
        }
        return new Outcome(process.ExitCode, stdout.Result + stderr.Result);
    }
}
