using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Circumvent.Tests.Support;

/// <summary>
/// A one-node Slurm cluster on localhost (Debian's slurmctld + slurmd) configured in a temporary folder,
/// for tests of the sbatch scripts. Needs root (the daemons run as root, SlurmUser=root) and no munge:
/// auth/none and cred/none, which Slurm 22.05 still ships. <see cref="Dispose"/> cancels every job and
/// stops both daemons, also when a test failed.
/// </summary>
public sealed partial class LocalSlurm : IDisposable
{
    public const int Cpus = 2;

    private readonly List<Process> _daemons = [];

    public string Folder { get; }
    public string Config { get; }

    /// <summary>Why Slurm cannot run here, or null when it can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux()) return "Slurm runs on Linux";
        if (Environment.UserName != "root") return "the local Slurm test starts slurmctld and slurmd as root; run the tests as root";
        foreach (var program in new[] { "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scontrol", "scancel" })
            if (Which(program) is null)
                return $"{program} is not installed (Debian: apt-get install slurmctld slurmd slurm-client; scripts/test installs them)";
        return null;
    }

    public LocalSlurm(string folder)
    {
        Folder = folder;
        foreach (var sub in new[] { "state", "spool" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        Config = Path.Combine(folder, "slurm.conf");
        // Free ports, so a Slurm already running on this machine (default 6817/6818) is left alone.
        File.WriteAllText(Config, $"""
            ClusterName=circumvent-test
            SlurmctldHost=localhost
            SlurmctldPort={FreePort()}
            SlurmdPort={FreePort()}
            AuthType=auth/none
            CredType=cred/none
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation={folder}/state
            SlurmdSpoolDir={folder}/spool
            SlurmctldPidFile={folder}/slurmctld.pid
            SlurmdPidFile={folder}/slurmd.pid
            SlurmctldLogFile={folder}/slurmctld.log
            SlurmdLogFile={folder}/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            JobCompType=jobcomp/none
            MpiDefault=none
            ReturnToService=2
            KillWait=10
            NodeName=localhost NodeAddr=127.0.0.1 CPUs={Cpus} RealMemory=1000 State=UNKNOWN
            PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
            """.ReplaceLineEndings("\n") + "\n");
        try
        {
            _daemons.Add(StartDaemon("slurmctld", "-D", "-i", "-f", Config));
            _daemons.Add(StartDaemon("slurmd", "-D", "-f", Config, "-N", "localhost"));
            var clock = Stopwatch.StartNew();
            while (!Client("sinfo", "-h", "-o", "%T").Stdout.Trim().Equals("idle", StringComparison.Ordinal))
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(30))
                    throw new InvalidOperationException($"the local Slurm node did not become idle within 30 s; logs in {folder}");
                Thread.Sleep(200);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Runs a Slurm client command (sbatch, squeue, …) against this cluster.</summary>
    public ExternalProcess.Result Client(string program, params string[] args) =>
        ExternalProcess.Run(program, args, new Dictionary<string, string?> { ["SLURM_CONF"] = Config });

    /// <summary>sbatch with the given environment on top of the test's; returns the job id.</summary>
    public string Submit(IReadOnlyDictionary<string, string?> environment, string workingDirectory, params string[] args)
    {
        var env = new Dictionary<string, string?>(environment) { ["SLURM_CONF"] = Config };
        var submitted = ExternalProcess.Run("sbatch", ["--parsable", .. args], env, workingDirectory);
        Assert.True(submitted.ExitCode == 0, "sbatch failed: " + submitted);
        return submitted.Stdout.Trim().Split(';')[0];
    }

    /// <summary>Waits until no task of job <paramref name="jobId"/> is pending, running or completing.</summary>
    public void WaitFor(string jobId, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (Client("squeue", "-h", "-j", jobId, "-o", "%i").Stdout.Trim().Length > 0)
        {
            if (clock.Elapsed > limit) Assert.Fail($"Slurm job {jobId} still in the queue after {limit.TotalSeconds:F0} s; logs in {Folder}");
            Thread.Sleep(250);
        }
    }

    /// <summary>Array task id → (state, exit code) of a finished job, e.g. "0" → ("COMPLETED", "0:0").</summary>
    public Dictionary<string, (string State, string ExitCode)> Tasks(string jobId)
    {
        var shown = Client("scontrol", "show", "job", jobId);
        Assert.True(shown.ExitCode == 0, shown.ToString());
        return TaskRecord().Matches(shown.Stdout).ToDictionary(
            m => m.Groups["task"].Value, m => (m.Groups["state"].Value, m.Groups["exit"].Value));
    }

    [GeneratedRegex(@"ArrayTaskId=(?<task>\d+).*?JobState=(?<state>\S+).*?\sExitCode=(?<exit>\S+)", RegexOptions.Singleline)]
    private static partial Regex TaskRecord();

    public void Dispose()
    {
        if (_daemons.Count == 2 && _daemons.All(d => !d.HasExited))
        {
            // Jobs first: their slurmstepd processes would outlive slurmd.
            Client("scancel", "--full", "--partition=debug");
            var clock = Stopwatch.StartNew();
            while (Client("squeue", "-h", "-o", "%i").Stdout.Trim().Length > 0 && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(250);
        }
        // slurmd first, then the controller (which stops its slurmscriptd on SIGTERM).
        for (int i = _daemons.Count - 1; i >= 0; i--)
        {
            ExternalProcess.Terminate(_daemons[i], TimeSpan.FromSeconds(10));
            _daemons[i].Dispose();
        }
        _daemons.Clear();
    }

    private Process StartDaemon(string program, params string[] args)
    {
        var info = new ProcessStartInfo(Which(program)!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment["SLURM_CONF"] = Config;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static string? Which(string program) =>
        new[] { "/usr/sbin", "/usr/bin", "/sbin", "/bin" }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
