using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace CtMparticle.Configuration;

/// <summary>
/// A <see cref="TimeSpan"/> setting between two bounds given as invariant <c>[d.]hh:mm:ss[.fff]</c> text, with
/// <see cref="RangeAttribute"/>'s message. <c>[Range(typeof(TimeSpan), …)]</c> parses its bounds through a type
/// converter found by reflection, which a Native AOT publish of ctmp cannot keep (docs/adr/0008).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter, AllowMultiple = false)]
internal sealed class TimeSpanRangeAttribute(string minimum, string maximum)
    : ValidationAttribute("The field {0} must be between {1} and {2}.")
{
    public TimeSpan Minimum { get; } = TimeSpan.Parse(minimum, CultureInfo.InvariantCulture);

    public TimeSpan Maximum { get; } = TimeSpan.Parse(maximum, CultureInfo.InvariantCulture);

    /// <summary>A missing value passes (<c>[Required]</c> says whether one is needed), as with <see cref="RangeAttribute"/>.</summary>
    public override bool IsValid(object? value) =>
        value is not TimeSpan span || (span >= Minimum && span <= Maximum);

    public override string FormatErrorMessage(string name) =>
        string.Format(CultureInfo.CurrentCulture, ErrorMessageString, name, Minimum, Maximum);
}
