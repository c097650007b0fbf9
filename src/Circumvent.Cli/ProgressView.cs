using Circumvent.Training;
using Spectre.Console;

namespace Circumvent.Cli;

/// <summary>
/// Shows training progress: a live Spectre table when stdout is a terminal, otherwise plain log
/// lines (one per epoch end and at most one every few seconds in between) that read well in a file.
/// </summary>
internal static class ProgressView
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);

    public static TrainingResult Run(CliConsole console, string header, Trainer trainer, Func<TrainingResult> train) =>
        console.Interactive ? RunLive(console, header, trainer, train) : RunPlain(console, header, trainer, train);

    public static string Format(TrainingProgress p) =>
        $"epoch {p.Epoch}/{p.Epochs} batch {p.Batch}/{p.Batches} loss {p.Loss:F4} {(double.IsNaN(p.Accuracy) ? "" : $"acc {p.Accuracy * 100:F2}% ")}" +
        $"lr {p.LearningRate:g3} {p.ImagesPerSecond:F0} img/s ETA {FormatTime(p.EstimatedRemaining)}";

    private static TrainingResult RunPlain(CliConsole console, string header, Trainer trainer, Func<TrainingResult> train)
    {
        console.Out.WriteLine(header);
        var last = DateTime.UtcNow;
        void OnProgress(TrainingProgress p)
        {
            var now = DateTime.UtcNow;
            if (!p.IsEpochEnd && now - last < PlainInterval) return;
            last = now;
            console.Out.WriteLine(Format(p));
        }
        trainer.Progress += OnProgress;
        try { return train(); }
        finally { trainer.Progress -= OnProgress; }
    }

    private static TrainingResult RunLive(CliConsole console, string header, Trainer trainer, Func<TrainingResult> train)
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
        ansi.MarkupLine($"[bold]{Markup.Escape(header)}[/]");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("epoch", "batch", "loss", "acc", "lr", "img/s", "ETA");
        table.AddRow("-", "-", "-", "-", "-", "-", "-");
        TrainingResult? result = null;
        ansi.Live(table).AutoClear(false).Start(ctx =>
        {
            var lastDraw = DateTime.MinValue;
            void OnProgress(TrainingProgress p)
            {
                // Redraw at most ~5 times a second; the training loop must not wait on the terminal.
                if (!p.IsEpochEnd && DateTime.UtcNow - lastDraw < TimeSpan.FromMilliseconds(200)) return;
                lastDraw = DateTime.UtcNow;
                int row = table.Rows.Count - 1;
                table.UpdateCell(row, 0, $"{p.Epoch}/{p.Epochs}").UpdateCell(row, 1, $"{p.Batch}/{p.Batches}")
                    .UpdateCell(row, 2, $"{p.Loss:F4}").UpdateCell(row, 3, double.IsNaN(p.Accuracy) ? "-" : $"{p.Accuracy * 100:F2}%")
                    .UpdateCell(row, 4, $"{p.LearningRate:g3}").UpdateCell(row, 5, $"{p.ImagesPerSecond:F0}")
                    .UpdateCell(row, 6, FormatTime(p.EstimatedRemaining));
                if (p.IsEpochEnd && p.Epoch < p.Epochs) table.AddRow("-", "-", "-", "-", "-", "-", "-");
                ctx.Refresh();
            }
            trainer.Progress += OnProgress;
            try { result = train(); }
            finally { trainer.Progress -= OnProgress; }
        });
        return result!;
    }

    private static string FormatTime(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";
}
