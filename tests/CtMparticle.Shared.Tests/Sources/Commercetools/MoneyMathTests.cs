using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests.Sources.Commercetools;

public sealed class MoneyMathTests
{
    private static CtMoney Cents(long cents, int digits, string currency = "EUR") =>
        new() { Type = "centPrecision", CurrencyCode = currency, CentAmount = cents, FractionDigits = digits };

    [Theory]
    [InlineData(9042, 2, "90.42")]
    [InlineData(9042, 0, "9042")]
    [InlineData(9042, 3, "9.042")]
    [InlineData(5, 2, "0.05")]
    [InlineData(-1250, 2, "-12.50")]
    [InlineData(0, 2, "0.00")]
    [InlineData(100, 2, "1.00")]
    public void ToDecimal_CentPrecision_IsExactAndKeepsTheCurrencyScale(long cents, int digits, string expected)
    {
        Assert.Equal(expected, MoneyMath.ToDecimal(Cents(cents, digits))!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void ToDecimal_Int64Extremes_AreExact()
    {
        Assert.Equal(92233720368547758.07m, MoneyMath.ToDecimal(Cents(long.MaxValue, 2)));
        Assert.Equal(-92233720368547758.08m, MoneyMath.ToDecimal(Cents(long.MinValue, 2)));
    }

    [Fact]
    public void ToDecimal_HighPrecision_UsesPreciseAmount()
    {
        var money = new CtMoney { Type = "highPrecision", CurrencyCode = "EUR", CentAmount = 1235, FractionDigits = 4, PreciseAmount = 123456 };

        Assert.Equal(12.3456m, MoneyMath.ToDecimal(money));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(21)]
    public void ToDecimal_ImpossibleFractionDigits_IsNull(int digits)
    {
        Assert.Null(MoneyMath.ToDecimal(Cents(100, digits)));
    }

    [Fact]
    public void ToDecimal_AddingMinorUnits_NeverDrifts()
    {
        // The classic double failure: 0.1 + 0.2 != 0.3. Ten thousand cents must add to exactly 100.00.
        var sum = Enumerable.Range(0, 10_000).Sum(_ => MoneyMath.ToDecimal(Cents(1, 2))!.Value);

        Assert.Equal(100.00m, sum);
    }

    [Theory]
    [InlineData("71.98", 2, 2, "35.99")]
    [InlineData("10.00", 3, 2, "3.33")]
    [InlineData("0.05", 2, 2, "0.02")]   // 0.025 → half to even
    [InlineData("0.07", 2, 2, "0.04")]   // 0.035 → half to even
    [InlineData("7198", 2, 0, "3599")]
    [InlineData("1.000", 3, 3, "0.333")]
    [InlineData("9.99", 0, 2, "9.99")]
    public void UnitPrice_RoundsHalfToEvenOnlyWhenNotExact(string total, long quantity, int digits, string expected)
    {
        var unit = MoneyMath.UnitPrice(decimal.Parse(total, System.Globalization.CultureInfo.InvariantCulture), quantity, digits);

        Assert.Equal(expected, unit.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("EUR", true)]
    [InlineData("JPY", true)]
    [InlineData("eur", false)]
    [InlineData("EU", false)]
    [InlineData("EURO", false)]
    [InlineData("E1R", false)]
    [InlineData(null, false)]
    public void IsCurrencyCode_AcceptsOnlyThreeUppercaseLetters(string? code, bool expected)
    {
        Assert.Equal(expected, MoneyMath.IsCurrencyCode(code));
    }
}
