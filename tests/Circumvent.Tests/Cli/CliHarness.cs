using Circumvent.Cli;
using Circumvent.Data.Formats;
using Circumvent.Tests.Support;

namespace Circumvent.Tests.Cli;

/// <summary>Runs the CLI in-process and captures what it prints.</summary>
public static class CliHarness
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// A tiny 10-class, 28×28 single-channel dataset in the MNIST file layout: class k is a bright
    /// 6×6 square at one of ten fixed positions on a noisy background, so a small MLP separates it fast.
    /// </summary>
    public static string WriteSyntheticMnistLayout(string folder, int trainCount = 500, int testCount = 200, int size = 28)
    {
        Directory.CreateDirectory(folder);
        var rng = new Random(5);
        foreach (var (split, count) in new[] { ("train", trainCount), ("t10k", testCount) })
        {
            int area = size * size;
            var pixels = new byte[count * area];
            var labels = new byte[count];
            for (int i = 0; i < count; i++)
            {
                int label = i % 10;
                labels[i] = (byte)label;
                var image = pixels.AsSpan(i * area, area);
                for (int p = 0; p < area; p++) image[p] = (byte)rng.Next(0, 60);
                // Square k sits in a 2×5 grid of cells scaled to the image size.
                int cellH = size / 2, cellW = size / 5;
                int top = (label / 5) * cellH + cellH / 4, left = (label % 5) * cellW;
                for (int y = top; y < top + cellH / 2; y++)
                    for (int x = left; x < left + cellW - 1; x++) image[y * size + x] = (byte)rng.Next(200, 256);
            }
            Idx.Write(Path.Combine(folder, $"{split}-images-idx3-ubyte"), [count, size, size], pixels);
            Idx.Write(Path.Combine(folder, $"{split}-labels-idx1-ubyte"), [count], labels);
        }
        return folder;
    }

    /// <summary>`eval … --json`, asserted to succeed, parsed.</summary>
    public static System.Text.Json.JsonElement EvalJson(params string[] args)
    {
        var eval = Run(["eval", .. args, "--json"]);
        Assert.True(eval.ExitCode == 0, $"eval failed: {eval.Stderr}");
        return System.Text.Json.JsonDocument.Parse(eval.Stdout).RootElement.Clone();
    }

    public static string TempFolder()
    {
        var path = Scratch.NewFolder("cli-");
        Directory.CreateDirectory(path);
        return path;
    }
}
