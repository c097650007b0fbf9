using System.Collections;
using Circumvent.Method.Pipelines;

namespace Circumvent.Method.Defenses;

/// <summary>
/// The knobs a user gave a defence, by <see cref="DefenseKnob.Field"/>; a knob not given takes the defence's default.
/// Built by `purify`'s options, by a plan's defence entry, or in code:
/// <c>new DefenseSettings { ["curve_epochs"] = 5, ["augment"] = false }</c>.
/// A switch's value is whether its behaviour is on (false: turned off). <see cref="DefenseRegistry.Create"/>
/// refuses a knob the chosen defence does not have before the defence reads any.
/// </summary>
public sealed class DefenseSettings : IEnumerable<KeyValuePair<string, object>>
{
    private readonly Dictionary<string, object> _values = new(StringComparer.Ordinal);

    public static DefenseSettings None => new();

    public object this[string field]
    {
        get => _values[field];
        set => _values[field] = value;
    }

    public IEnumerable<string> Fields => _values.Keys;

    /// <summary>
    /// Not a knob but the objective the defence will train with (`purify --objective simclr`): defences with
    /// self-supervised defaults (<see cref="TscOptions.SelfSupervised"/>, <see cref="McrOptions.SelfSupervised"/>)
    /// start from those; a defence that only repairs classifiers refuses it.
    /// </summary>
    public bool SelfSupervised { get; set; }

    /// <summary>
    /// The objective is CLIP's image–text InfoNCE (`purify --objective clip`, implies <see cref="SelfSupervised"/>): TSC and MCR
    /// start from <see cref="TscOptions.Clip"/> and <see cref="McrOptions.Clip"/>.
    /// </summary>
    public bool Clip { get; set; }

    /// <summary>Sets <see cref="SelfSupervised"/> and <see cref="Clip"/> from `purify --objective`'s value (supervised, simclr or clip).</summary>
    public void SetObjective(string objective)
    {
        Clip = objective == EncoderPurification.Clip;
        SelfSupervised = Clip || objective == EncoderPurification.SimClr;
    }

    public bool IsGiven(DefenseKnob knob) => _values.ContainsKey(knob.Field);

    public int? Integer(DefenseKnob knob) => Integer(knob.Field);

    public double? Number(DefenseKnob knob) => Number(knob.Field);

    /// <summary>A switch: on unless given as false.</summary>
    public bool IsOn(DefenseKnob knob) => IsOn(knob.Field);

    public int? Integer(string field) => _values.TryGetValue(field, out var v) ? Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture) : null;

    public double? Number(string field) => _values.TryGetValue(field, out var v) ? Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture) : null;

    public bool IsOn(string field) => !_values.TryGetValue(field, out var v) || (bool)v;

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => _values.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>A copy with <paramref name="field"/> set to <paramref name="value"/>.</summary>
    public DefenseSettings With(string field, object value)
    {
        var copy = Copy();
        copy[field] = value;
        return copy;
    }

    /// <summary>A copy without <paramref name="field"/> (back to the defence's default).</summary>
    public DefenseSettings Without(string field)
    {
        var copy = Copy();
        copy._values.Remove(field);
        return copy;
    }

    private DefenseSettings Copy()
    {
        var copy = new DefenseSettings { SelfSupervised = SelfSupervised, Clip = Clip };
        foreach (var (key, value) in _values) copy[key] = value;
        return copy;
    }

    /// <summary>Collection-initialiser form: <c>new DefenseSettings { { "rounds", 2 } }</c>.</summary>
    public void Add(string field, object value) => _values[field] = value;
}
