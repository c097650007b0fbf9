using Circumvent.Tests.Support;

namespace Circumvent.Tests.Repository;

/// <summary>Tests leave nothing behind: <see cref="Scratch"/> sweeps the folders of test processes that ended.</summary>
public class ScratchTests
{
    [Fact]
    public void FoldersOfEndedProcessesAreRemovedAndThoseOfRunningOnesKept()
    {
        string parent = Scratch.NewFolder("sweep-");
        // Linux pids stop at 2^22, so 999999999 never runs; this process does.
        string ended = Directory.CreateDirectory(Path.Combine(parent, "999999999-0123")).FullName;
        File.WriteAllText(Path.Combine(ended, "model.safetensors"), "left by a killed run");
        string running = Directory.CreateDirectory(Path.Combine(parent, $"{Environment.ProcessId}-4567")).FullName;
        string notOurs = Directory.CreateDirectory(Path.Combine(parent, "someone-elses")).FullName;

        Scratch.RemoveFoldersOfEndedProcesses(parent);

        Assert.False(Directory.Exists(ended));
        Assert.True(Directory.Exists(running));
        Assert.True(Directory.Exists(notOurs));
    }

    [Fact]
    public void EveryTestFolderLivesUnderThisProcesssRoot()
    {
        Assert.StartsWith($"{Environment.ProcessId}-", Path.GetFileName(Scratch.Root));
        Assert.Equal(Scratch.Root, Path.GetDirectoryName(Scratch.NewFolder("x-")));
        Assert.Equal(Scratch.Root, Path.GetDirectoryName(Scratch.NewFilePath("y-", ".bin")));
        Assert.False(File.Exists(Scratch.NewFilePath("y-", ".bin")));
    }

    [Fact]
    public void AFolderLeavesRoomForSlurmdsSocketsInItsSpool()
    {
        // slurmd's step sockets: SPOOL/NODE_JOB.STEP, at most 107 bytes in all (sun_path); LocalSlurm's spool is FOLDER/spool.
        string socket = Path.Combine(Scratch.NewFolder("cli-"), "spool", "localhost_4294967294.4294967291");
        Assert.True(socket.Length <= 107, $"{socket.Length} bytes: {socket}");
    }

    [Fact]
    public void NoTestWritesToTheTempFolderAroundScratch()
    {
        string tests = Path.Combine(RepositoryRoot.Path, "tests");
        var offenders = Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") &&
                        !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") &&
                        Path.GetFileName(f) is not ("Scratch.cs" or "ScratchTests.cs"))
            .Where(f => File.ReadAllText(f) is var text && (text.Contains("GetTempPath(") || text.Contains("CreateTempSubdirectory(")))
            .Select(f => Path.GetRelativePath(tests, f));
        Assert.Empty(offenders);
    }
}
