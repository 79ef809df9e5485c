using System.Reflection;
using CtMparticle.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tool;

/// <summary>The runner's settings: the embedded default or --settings FILE, then CTMP_* environment variables.</summary>
internal static class ToolSettings
{
    public static ServiceProvider Build(FileInfo? settingsFile)
    {
        var builder = new ConfigurationBuilder();
        if (settingsFile is not null)
        {
            // A settings file replaces the embedded default whole (lists such as MParticle:Stores would otherwise merge by index).
            builder.AddJsonFile(settingsFile.FullName, optional: false);
        }
        else
        {
            using var embedded = Assembly.GetExecutingAssembly().GetManifestResourceStream("ctmp.settings.json")
                ?? throw new InvalidOperationException("The embedded default settings are missing from this build.");
            var defaults = new MemoryStream();
            embedded.CopyTo(defaults);
            defaults.Position = 0;
            builder.AddJsonStream(defaults);
        }

        builder.AddEnvironmentVariables("CTMP_");
        var services = new ServiceCollection().AddCtMparticleCore(builder.Build()).BuildServiceProvider();

        // Validate now, so a bad setting stops the run before any input is read.
        _ = services.GetRequiredService<IOptions<MappingOptions>>().Value;
        _ = services.GetRequiredService<IOptions<MParticleOptions>>().Value;
        return services;
    }
}
