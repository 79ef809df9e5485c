using System.Diagnostics;

namespace CtMparticle.Telemetry;

/// <summary>The relay's spans (ActivitySource <c>CtMparticle.Relay</c>): one per ingested input, one per Events API request.</summary>
internal static class RelayTracing
{
    public const string SourceName = "CtMparticle.Relay";

    public static readonly ActivitySource Source = new(SourceName);
}
