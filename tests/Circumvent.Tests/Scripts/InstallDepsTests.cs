using Circumvent.Tests.Cli;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Scripts;

/// <summary>
/// scripts/install-deps against a fake apt-get and dpkg-query (first on PATH): it waits while apt's
/// lock is held and goes on when it is released, gives up with one clear line when it stays held,
/// warns about an optional package that cannot be installed and fails on a required one.
/// </summary>
public class InstallDepsTests
{
    // The fake apt-get: `update` reports the lock held while the counter file `lock-held` is above 0
    // (counting it down), `install` fails for packages listed in `unavailable` and records the rest in
    // `installed`, which the fake dpkg-query reads. Every call is logged to `calls`.
    private const string FakeAptGet = """
        #!/usr/bin/env bash
        state=$FAKE_APT_STATE
        while [ "$1" = "-o" ]; do echo "$2" >>"$state/options"; shift 2; done
        echo "$*" >>"$state/calls"
        case "$1" in
          update)
            held=$(cat "$state/lock-held" 2>/dev/null || echo 0)
            if [ "$held" -gt 0 ]; then
              echo $((held - 1)) >"$state/lock-held"
              echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
              exit 100
            fi ;;
          install)
            shift
            for p in "$@"; do
              case "$p" in -*) continue ;; esac
              if grep -qx "$p" "$state/unavailable" 2>/dev/null; then echo "E: Unable to locate package $p" >&2; exit 100; fi
            done
            for p in "$@"; do case "$p" in -*) ;; *) echo "$p" >>"$state/installed" ;; esac; done ;;
        esac
        """;

    private const string FakeDpkgQuery = """
        #!/usr/bin/env bash
        p=${!#}
        grep -qx "$p" "$FAKE_APT_STATE/installed" 2>/dev/null || exit 1
        printf 'install ok installed'
        """;

    private const string FakeSudo = """
        #!/usr/bin/env bash
        exec "$@"
        """;

    private sealed record Fake(string State)
    {
        public string[] Lines(string file) =>
            File.Exists(Path.Combine(State, file)) ? File.ReadAllLines(Path.Combine(State, file)) : [];
    }

    private static (ExternalProcess.Result Result, Fake Fake) Run(int lockHeldFor, string[] unavailable, string lockWaitSeconds,
        params string[] args) => Run(lockHeldFor, unavailable, lockWaitSeconds, args, preinstalled: []);

    private static (ExternalProcess.Result Result, Fake Fake) Run(int lockHeldFor, string[] unavailable, string lockWaitSeconds,
        string[] args, string[] preinstalled)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "install-deps is a bash script for Debian");
        var dir = CliHarness.TempFolder();
        var bin = Directory.CreateDirectory(Path.Combine(dir, "bin")).FullName;
        var state = Directory.CreateDirectory(Path.Combine(dir, "state")).FullName;
        foreach (var (name, text) in new[] { ("apt-get", FakeAptGet), ("dpkg-query", FakeDpkgQuery), ("sudo", FakeSudo) })
            ExternalProcess.WriteScript(Path.Combine(bin, name), text);
        File.WriteAllText(Path.Combine(state, "lock-held"), lockHeldFor.ToString());
        File.WriteAllLines(Path.Combine(state, "unavailable"), unavailable);
        File.WriteAllLines(Path.Combine(state, "installed"), preinstalled);
        var script = Path.Combine(RepositoryRoot.Path, "scripts", "install-deps");
        var result = ExternalProcess.Run("bash", [script, .. args], new Dictionary<string, string?>
        {
            ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH"),
            ["FAKE_APT_STATE"] = state,
            ["CIRCUMVENT_APT_LOCK_WAIT"] = lockWaitSeconds,
            ["CIRCUMVENT_APT_LOCK_POLL"] = "0.1",
        });
        return (result, new Fake(state));
    }

    [SkippableFact]
    public void WaitsForTheLockThenInstallsAndWarnsAboutAnOptionalPackageItCannotGet()
    {
        var (result, fake) = Run(lockHeldFor: 3, unavailable: ["libdnnl2"], lockWaitSeconds: "60", "--optional", "chromium");

        Assert.True(result.ExitCode == 0, result.ToString());
        // Three refusals, then the update that got the lock; the wait is announced once.
        Assert.Equal(4, fake.Lines("calls").Count(c => c.StartsWith("update")));
        Assert.Single(result.Stdout.Split('\n'), l => l.Contains("holds the package manager's lock") && l.Contains("60s"));
        Assert.Equal(["dataset-fashion-mnist", "libfontconfig1", "libopenblas0", "chromium"], fake.Lines("installed"));
        var warning = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("optional package libdnnl2 not installed", warning);
        Assert.Contains("Unable to locate package libdnnl2", warning);
        // apt-get itself is told to wait for dpkg's lock, within the same bound.
        Assert.All(fake.Lines("options"), o => Assert.Matches(@"^DPkg::Lock::Timeout=\d+$", o));
        Assert.All(fake.Lines("options"), o => Assert.InRange(int.Parse(o.Split('=')[1]), 0, 60));
    }

    [SkippableFact]
    public void GivesUpWithOneLineWhenTheLockStaysHeld()
    {
        var (result, fake) = Run(lockHeldFor: 1000, unavailable: [], lockWaitSeconds: "1");

        Assert.Equal(1, result.ExitCode);
        var error = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("lock was still held after 1s", error);
        Assert.Contains("/var/lib/apt/lists/lock", error);
        Assert.Empty(fake.Lines("installed"));
    }

    [SkippableFact]
    public void ARequiredPackageThatCannotBeInstalledFailsNamingIt()
    {
        var (result, fake) = Run(lockHeldFor: 0, unavailable: ["dataset-fashion-mnist"], lockWaitSeconds: "60");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("could not install the required package(s) dataset-fashion-mnist", result.Stderr.Split('\n').Last(l => l.Length > 0));
        Assert.Contains("Unable to locate package dataset-fashion-mnist", result.Stderr);
        Assert.Empty(fake.Lines("installed"));
    }

    [SkippableFact]
    public void CallsNoAptGetWhenEverythingIsInstalled()
    {
        var (result, fake) = Run(lockHeldFor: 1000, unavailable: [], lockWaitSeconds: "60", ["--optional", "chromium"],
            preinstalled: ["libopenblas0", "chromium", "dataset-fashion-mnist", "libfontconfig1", "libdnnl2"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(fake.Lines("calls"));
        Assert.Equal("", result.Stdout + result.Stderr);
    }

    [SkippableFact]
    public void AnUnknownArgumentIsRejected()
    {
        var (result, fake) = Run(lockHeldFor: 0, unavailable: [], lockWaitSeconds: "60", "chromium");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown argument 'chromium'; expected --optional PKG", result.Stderr);
        Assert.Empty(fake.Lines("calls"));
    }
}
