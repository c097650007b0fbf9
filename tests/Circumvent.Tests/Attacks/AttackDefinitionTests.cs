using System.Text.Json;
using Circumvent.Attacks;

namespace Circumvent.Tests.Attacks;

public class AttackDefinitionTests
{
    [Fact]
    public void JsonRoundTripKeepsEveryField()
    {
        var definition = new AttackDefinition
        {
            Kind = "badnet", Target = 7, PoisonRate = 0.1, PatchSize = 4, PatchRow = 2, PatchColumn = 5,
            PatchColour = 128, TriggerImage = "/tmp/patch.ppm", Alpha = 0.3,
        };
        var json = definition.ToJson();
        Assert.Equal(definition, AttackDefinition.FromJson(json));
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("badnet", doc.RootElement.GetProperty("kind").GetString());
        Assert.Equal(0.1, doc.RootElement.GetProperty("poison_rate").GetDouble());
        Assert.Equal(7, doc.RootElement.GetProperty("target").GetInt32());
    }

    [Fact]
    public void DefaultsAreTheBottomRightWhiteSquareAndAlphaPointTwo()
    {
        var parsed = AttackDefinition.FromJson("""{"kind": "badnet", "target": 2}""");
        Assert.Equal(new AttackDefinition { Kind = "badnet", Target = 2 }, parsed);
        Assert.Equal(3, parsed.PatchSize);
        Assert.Null(parsed.PatchRow);
        Assert.Equal(255, parsed.PatchColour);
        Assert.Equal(0.05, parsed.PoisonRate);
        Assert.Equal(0.2, parsed.Alpha);
        // Unset optional fields are omitted rather than written as null.
        Assert.DoesNotContain("trigger_image", parsed.ToJson());
    }

    [Fact]
    public void EachKindWritesOnlyItsOwnFieldsBesideTheSharedOnes()
    {
        // BadNet's JSON is exactly what it was before SIG/WaNet/LC existed: stored checkpoints and the
        // experiment runner's keys (hashes of this text) do not change.
        Assert.Equal("""{"kind":"badnet","target":1,"poison_rate":0.05,"patch_size":3,"patch_colour":255,"alpha":0.2}""",
            new AttackDefinition { Target = 1 }.ToJson());
        var own = new Dictionary<string, string[]>
        {
            ["sig"] = ["sig_delta", "sig_frequency"],
            ["wanet"] = ["warp_grid", "warp_strength", "grid_rescale", "noise_ratio", "seed"],
            ["lc"] = ["pgd_epsilon", "pgd_step_size", "pgd_steps"],
        };
        foreach (var (kind, fields) in own)
        {
            var keys = JsonDocument.Parse(new AttackDefinition { Kind = kind }.ToJson()).RootElement.EnumerateObject().Select(p => p.Name).ToList();
            foreach (var field in fields) Assert.Contains(field, keys);
            foreach (var other in own.Where(o => o.Key != kind).SelectMany(o => o.Value)) Assert.DoesNotContain(other, keys);
        }
    }

    [Fact]
    public void SapaWritesItsAugmentSwitchOnlyWhenOnSoEarlierKeysStay()
    {
        // The SAPA JSON of the plan's cached model (before sapa_augment existed) is unchanged when the switch is off.
        var off = new AttackDefinition { Kind = "sapa", Target = 0, PoisonRate = 0.01, CleanModel = "clean.safetensors" };
        Assert.Equal("{\"kind\":\"sapa\",\"target\":0,\"poison_rate\":0.01,\"patch_size\":3,\"patch_colour\":255,\"alpha\":0.2,\"clean_model\":\"clean.safetensors\","
            + "\"sapa_epsilon\":16,\"sapa_steps\":100,\"sapa_sigma\":0.01,\"sapa_learning_rate\":0.1,\"sapa_sources\":200,\"sapa_patch_size\":8}", off.ToJson());
        var on = off with { SapaAugment = true };
        Assert.Contains("\"sapa_augment\":true", on.ToJson());
        Assert.Equal(on, AttackDefinition.FromJson(on.ToJson()));
        Assert.Equal(off, AttackDefinition.FromJson(off.ToJson()));
        // The same for the later retraining and selection (plans name them so).
        var later = AttackDefinition.FromJson("""{"kind": "sapa", "clean_model": "clean.safetensors", "sapa_retrainings": 2, "sapa_select_poisons": true}""");
        Assert.Equal((2, true), (later.SapaRetrainings, later.SapaSelectPoisons));
        Assert.Contains("\"sapa_retrainings\":2,\"sapa_select_poisons\":true", later.ToJson());
    }

    [Theory]
    [InlineData("""{"kind": "trojan"}""", "trojan")]
    [InlineData("""{"kind": "badnet", "poison_rate": 0}""", "--poison-rate")]
    [InlineData("""{"kind": "badnet", "target": -1}""", "--target")]
    [InlineData("""{"kind": "badnet", "patch_size": 0}""", "--patch-size")]
    [InlineData("""{"kind": "blended"}""", "--trigger-image")]
    [InlineData("""{"kind": "blended", "trigger_image": "k.ppm", "alpha": 1.5}""", "--alpha")]
    [InlineData("""not json""", "JSON")]
    public void InvalidDefinitionsAreRejected(string json, string expectedWord)
    {
        var error = Assert.Throws<ArgumentException>(() => AttackDefinition.FromJson(json));
        Assert.Contains(expectedWord, error.Message);
    }

    [Fact]
    public void FactoryBuildsTheNamedAttack()
    {
        var attack = AttackFactory.FromJson("""{"kind": "badnet", "target": 5}""");
        Assert.IsType<BadNetAttack>(attack);
        Assert.Equal("badnet", attack.Name);
        Assert.Equal(5, attack.TargetClass);
        Assert.Equal(attack.Definition, AttackDefinition.FromJson(attack.ToJson()));
    }
}
