using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Circumvent.Cli;

/// <summary>
/// How every number on the command line is read, options and list elements alike: invariant culture
/// ('.' is the decimal point), no thousands separators, nothing before or after the number, finite.
/// NOTE: System.CommandLine's own conversion allows thousands separators, so "--finetune-lr 1,5" was
/// read as 15 and "--t 0,4" as 4; its errors also name .NET types ("System.Nullable`1[System.Double]").
/// </summary>
internal static class NumberOptions
{
    /// <summary>Gives every numeric option of <paramref name="command"/> and its subcommands this parser.</summary>
    /// <exception cref="InvalidOperationException">A numeric option of a type this class does not know (a bug, caught by the tests).</exception>
    public static void Install(Command command)
    {
        foreach (var option in command.Options) Install(option);
        foreach (var subcommand in command.Subcommands) Install(subcommand);
    }

    private static void Install(Option option)
    {
        switch (option)
        {
            case Option<int> o: o.CustomParser = Parse<int>; break;
            case Option<int?> o: o.CustomParser = r => Parse<int>(r); break;
            case Option<double> o: o.CustomParser = Parse<double>; break;
            case Option<double?> o: o.CustomParser = r => Parse<double>(r); break;
            default:
                if (IsNumeric(option.ValueType))
                    throw new InvalidOperationException($"{option.Name}: no number parser for {option.ValueType.Name}; add its case here.");
                break;
        }
    }

    /// <summary>Whether options of this value type hold numbers (and so must have this class's parser).</summary>
    public static bool IsNumeric(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(INumberBase<>));
    }

    /// <summary>Reads <paramref name="text"/> as a <typeparamref name="T"/> by the rules above.</summary>
    public static bool TryParse<T>(string text, out T value) where T : struct, INumberBase<T>
    {
        var styles = IsWhole<T>() ? NumberStyles.AllowLeadingSign : NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;
        return T.TryParse(text, styles, CultureInfo.InvariantCulture, out value) && T.IsFinite(value);
    }

    /// <summary>"a number such as 0.5" or "a whole number such as 10", the words the messages use.</summary>
    public static string Expected<T>() where T : struct, INumberBase<T> => IsWhole<T>() ? "a whole number such as 10" : "a number such as 0.5";

    /// <summary>The expectation in a message, with a hint when a decimal comma is the likely mistake.</summary>
    public static string Mismatch<T>(string name, string text) where T : struct, INumberBase<T> =>
        $"{name} expects {Expected<T>()}, got '{text}'" + (text.Contains(',') && !IsWhole<T>() ? " (use '.' as the decimal point)." : ".");

    private static T Parse<T>(ArgumentResult result) where T : struct, INumberBase<T>
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(" ", result.Tokens.Select(t => t.Value));
        if (TryParse(text, out T value)) return value;
        string name = result.Parent is OptionResult o ? o.Option.Name : result.Argument.Name;
        result.AddError(Mismatch<T>(name, text));
        return default;
    }

    private static bool IsWhole<T>() => typeof(T).GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IBinaryInteger<>));
}
