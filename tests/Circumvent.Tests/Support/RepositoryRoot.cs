namespace Circumvent.Tests.Support;

/// <summary>The checkout the tests were built from: the folder above the test binaries that holds Circumvent.slnx.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    public static string File(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "Circumvent.slnx"))) return dir.FullName;
        throw new InvalidOperationException("Circumvent.slnx not found above " + AppContext.BaseDirectory);
    }
}
