
namespace CtMparticle.Sources.Commercetools;

/// <summary>Exact money arithmetic for commercetools amounts: int64 minor units to <c>decimal</c> major units, never <c>double</c>.</summary>
internal static class MoneyMath
{
    /// <summary>commercetools currencies use 0–3 digits, high-precision prices up to about 20; decimal holds 28.</summary>
    public const int MaxFractionDigits = 20;

    /// <summary>
    /// The largest amount (major units) forwarded: mParticle, GA4 and Meta hold numbers as doubles, exact to whole units
    /// up to 2^53 (about 9 × 10^15); larger totals are not real orders and would arrive changed.
    /// </summary>
    public const decimal MaxAmount = 1_000_000_000_000_000m;

    /// <summary>Whether an amount fits <see cref="MaxAmount"/> (so sums and products of a real order cannot overflow).</summary>
    public static bool IsExactInDestinations(decimal amount) => Math.Abs(amount) <= MaxAmount;

    /// <summary>True for an uppercase ISO 4217 alphabetic code.</summary>
    public static bool IsCurrencyCode(string? code) =>
        code is { Length: 3 } && char.IsAsciiLetterUpper(code[0]) && char.IsAsciiLetterUpper(code[1]) && char.IsAsciiLetterUpper(code[2]);

    /// <summary>
    /// The amount in major units: <c>centAmount / 10^fractionDigits</c>, or <c>preciseAmount / 10^fractionDigits</c>
    /// for high-precision money. Exact for every int64 amount. Returns null when the money is not well-formed.
    /// </summary>
    public static decimal? ToDecimal(CtMoney money)
    {
        if (money.FractionDigits is < 0 or > MaxFractionDigits)
        {
            return null;
        }

        var minor = money.Type == "highPrecision" && money.PreciseAmount is { } precise ? precise : money.CentAmount;
        return Scale(minor, money.FractionDigits);
    }

    /// <summary><paramref name="minorUnits"/> / 10^<paramref name="fractionDigits"/>, exactly, keeping the scale (3999, 2 → 39.99).</summary>
    public static decimal Scale(long minorUnits, int fractionDigits)
    {
        var magnitude = minorUnits == long.MinValue ? (ulong)long.MaxValue + 1 : (ulong)Math.Abs(minorUnits);
        return new decimal((int)(uint)magnitude, (int)(uint)(magnitude >> 32), 0, minorUnits < 0, (byte)fractionDigits);
    }

    /// <summary>
    /// A unit price from a line total: exact when the total divides evenly, else rounded half-to-even to the
    /// currency's digits (the line total stays the exact figure).
    /// </summary>
    public static decimal UnitPrice(decimal lineTotal, long quantity, int fractionDigits)
    {
        if (quantity <= 0 || fractionDigits < 0)
        {
            return lineTotal; // unusable input is reported by the caller (MoneyReader), never thrown here
        }

        var unit = lineTotal / quantity;
        var rounded = Math.Round(unit, Math.Min(fractionDigits, 28), MidpointRounding.ToEven);
        return rounded * quantity == lineTotal ? Normalize(rounded, fractionDigits) : rounded;
    }

    /// <summary>Gives a value the currency's scale (39.9 → 39.90) so amounts print as people expect.</summary>
    public static decimal Normalize(decimal value, int fractionDigits)
    {
        if (fractionDigits < 0)
        {
            return value; // unusable input is reported by the caller (MoneyReader), never thrown here
        }

        var rounded = Math.Round(value, Math.Min(fractionDigits, 28), MidpointRounding.ToEven);
        return rounded == value && fractionDigits <= 28 ? rounded + Scale(0, fractionDigits) : value;
    }
}
