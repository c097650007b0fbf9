using System.Text.Json.Nodes;
using Circumvent.Data.Formats;
using Circumvent.Tests.Cli;

namespace Circumvent.Tests.Experiments;

/// <summary>Plans small enough to run in a test: synthetic 28×28 data, a tiny MLP, one-epoch curves.</summary>
public static class TinyPlans
{
    /// <summary>A fresh folder with synthetic MNIST-layout data and a 28×28 grey trigger image for blended.</summary>
    public static (string Dir, string Data, string Trigger) Folder()
    {
        var dir = CliHarness.TempFolder();
        var data = "mnist:" + CliHarness.WriteSyntheticMnistLayout(Path.Combine(dir, "data"), trainCount: 300, testCount: 100);
        var pixels = new byte[28 * 28];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 37 % 256);
        var trigger = Path.Combine(dir, "trigger.pgm");
        Netpbm.Write(trigger, 1, 28, 28, pixels);
        return (dir, data, trigger);
    }

    /// <summary>
    /// The cells of <see cref="Plan"/> (with QRA when asked) in a fresh folder: badnet × {none, ft, tsc} (cells 0–2),
    /// then blended × {none, ft, tsc} (cells 3–5); one model per attack.
    /// </summary>
    public static IReadOnlyList<Circumvent.Experiments.Plans.Cell> Cells(bool qra = false)
    {
        var (dir, data, trigger) = Folder();
        var plan = Plan(data, trigger);
        if (qra) plan["qra"] = true;
        return Circumvent.Experiments.Plans.Grid.Expand(Circumvent.Experiments.Plans.PlanReader.Read(Write(dir, plan)));
    }

    /// <summary>badnet + blended × rate 0.1 × seed 0 × none/ft/tsc = 6 cells.</summary>
    public static JsonObject Plan(string data, string trigger) => new()
    {
        ["name"] = "tiny",
        ["datasets"] = new JsonArray(data),
        ["architectures"] = new JsonArray(new JsonObject { ["name"] = "mlp", ["width"] = 0.0625 }),
        ["attacks"] = new JsonArray(
            new JsonObject { ["kind"] = "badnet", ["target"] = 0 },
            new JsonObject { ["kind"] = "blended", ["trigger_image"] = trigger, ["alpha"] = 0.2 }),
        ["poison_rates"] = new JsonArray(0.1),
        ["defenses"] = new JsonArray(
            "none",
            new JsonObject { ["name"] = "ft", ["finetune_epochs"] = 1, ["batch_size"] = 32 },
            new JsonObject { ["name"] = "tsc", ["rounds"] = 1, ["curve_epochs"] = 1, ["batch_size"] = 32 }),
        ["seeds"] = new JsonArray(0),
        ["training"] = new JsonObject { ["epochs"] = 2, ["batch_size"] = 30, ["augment"] = false },
        ["clean_fraction"] = 0.2,
        ["curve_points"] = 3,
    };

    public static string Write(string dir, JsonObject plan, string name = "plan.json")
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, plan.ToJsonString());
        return path;
    }
}
