using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CtMparticle.Tests.Configuration;

public sealed class OptionsValidationTests
{
    private static IServiceProvider Services(Dictionary<string, string?> settings) =>
        new ServiceCollection()
            .AddCtMparticleCore(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .BuildServiceProvider();

    private static Dictionary<string, string?> Valid() => new()
    {
        ["Mapping:Environment"] = "production",
        ["MParticle:Inputs:0:Name"] = "acme-eu",
        ["MParticle:Inputs:0:Pod"] = "EU1",
        ["MParticle:Inputs:0:ApiKeySetting"] = "MParticle_AcmeEu_ApiKey",
        ["MParticle:Inputs:0:ApiSecretSetting"] = "MParticle_AcmeEu_ApiSecret",
        ["MParticle:Stores:0:Key"] = "acme-de",
        ["MParticle:Stores:0:Input"] = "acme-eu",
        ["MParticle:Stores:0:DefaultCountry"] = "DE",
        ["MParticle:DefaultInput"] = "acme-eu",
    };

    private static string Failure(Dictionary<string, string?> settings)
    {
        var services = Services(settings);
        var ex = Assert.Throws<OptionsValidationException>(() =>
        {
            _ = services.GetRequiredService<IOptions<MappingOptions>>().Value;
            _ = services.GetRequiredService<IOptions<MParticleOptions>>().Value;
        });
        return string.Join(" | ", ex.Failures);
    }

    [Fact]
    public void AddCtMparticleCore_ValidSettings_BindEverything()
    {
        var services = Services(Valid());

        var mapping = services.GetRequiredService<IOptions<MappingOptions>>().Value;
        var routing = services.GetRequiredService<IOptions<MParticleOptions>>().Value;

        Assert.Equal("production", mapping.Environment);
        Assert.Equal(MParticlePod.EU1, routing.FindInput("acme-eu")!.Pod);
        Assert.Equal("acme-eu", routing.FindStore("acme-de")!.Input);
        Assert.Equal(4, mapping.Consent.EffectiveFields().Count);
        Assert.NotNull(services.GetRequiredService<CtMparticle.Sources.Commercetools.CommercetoolsMapper>());
        Assert.NotNull(services.GetRequiredService<CtMparticle.Delivery.BatchBuilder>());
    }

    [Theory]
    [InlineData("Mapping:Environment", "prod", "'production' or 'development'")]
    [InlineData("Mapping:Identity:CustomerIdIdentity", "customerid", "not an mParticle identity")]
    [InlineData("Mapping:Identity:AnonymousIdIdentity", "customer_id", "Two identifiers map")]
    [InlineData("Mapping:DefaultLocale", "english please", "IETF language tag")]
    [InlineData("Mapping:DataPlan:PlanId", "Commerce Plan", "URL-safe slug")]
    [InlineData("MParticle:Stores:0:Input", "acme-us", "Input is 'acme-us', but no entry")]
    [InlineData("MParticle:Stores:0:DefaultCountry", "Germany", "ISO 3166-1 alpha-2")]
    [InlineData("MParticle:DefaultInput", "nowhere", "MParticle:DefaultInput is 'nowhere'")]
    [InlineData("MParticle:Inputs:0:ApiKeySetting", "abc def secret", "NAME of a setting")]
    [InlineData("MParticle:Inputs:0:BaseUrl", "/relative", "absolute http(s) URL")]
    [InlineData("MParticle:Stores:1:Key", "acme-de", "appears more than once")]
    public void AddCtMparticleCore_BadSetting_FailsNamingTheSetting(string key, string value, string expected)
    {
        var settings = Valid();
        settings[key] = value;

        Assert.Contains(expected, Failure(settings), StringComparison.Ordinal);
    }

    [Fact]
    public void AddCtMparticleCore_HashedEmailInTheEmailIdentity_Fails()
    {
        var settings = Valid();
        settings["Mapping:Identity:EmailMode"] = "Sha256";
        settings["Mapping:Identity:EmailHashIdentity"] = "email";

        Assert.Contains("never to 'email'", Failure(settings), StringComparison.Ordinal);
    }

    [Fact]
    public void AddCtMparticleCore_CcpaWithAnotherPurpose_Fails()
    {
        var settings = Valid();
        settings["Mapping:Consent:Fields:0:Field"] = "doNotSell";
        settings["Mapping:Consent:Fields:0:Purpose"] = "sale";
        settings["Mapping:Consent:Fields:0:Regulation"] = "Ccpa";

        Assert.Contains("exactly one purpose, 'data_sale_opt_out'", Failure(settings), StringComparison.Ordinal);
    }

    [Fact]
    public void AddCtMparticleCore_UppercaseGdprPurpose_Fails()
    {
        var settings = Valid();
        settings["Mapping:Consent:Fields:0:Field"] = "consentAnalytics";
        settings["Mapping:Consent:Fields:0:Purpose"] = "Analytics";

        Assert.Contains("lowercase", Failure(settings), StringComparison.Ordinal);
    }

    [Fact]
    public void LocalSettingsSample_IsValidAsDocumented()
    {
        // Functions read app settings as environment variables, where "__" separates sections.
        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "settings", "local.settings.sample.json")))!;
        var settings = sample["Values"]!.AsObject().ToDictionary(p => p.Key.Replace("__", ":", StringComparison.Ordinal), p => (string?)p.Value);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddCtMparticleRelay(configuration).AddCtMparticleAzureStorage(configuration).BuildServiceProvider();

        var routing = services.GetRequiredService<IOptions<MParticleOptions>>().Value;
        Assert.Equal("acme-eu", routing.FindStore("acme-de")!.Input);
        Assert.Equal(4, services.GetRequiredService<IOptions<MappingOptions>>().Value.Consent.Fields.Length);
        Assert.Equal(90, services.GetRequiredService<IOptions<RelayOptions>>().Value.DedupeRetentionDays);
        Assert.Equal(90, services.GetRequiredService<IOptions<RelayOptions>>().Value.QuarantineRetentionDays);
        Assert.Equal(262_144, services.GetRequiredService<IOptions<PushOptions>>().Value.MaxRequestBytes);
        Assert.Equal("quarantine", services.GetRequiredService<IOptions<StorageOptions>>().Value.QuarantineContainer);
    }

    [Theory]
    [InlineData("30", null, "Relay:DedupeRetentionDays is 30 but Relay:QuarantineRetentionDays is 90")]
    [InlineData("60", "61", "Relay:DedupeRetentionDays is 60 but Relay:QuarantineRetentionDays is 61")]
    public void DedupeRetentionShorterThanQuarantine_RefusesToStart_NamingBoth(string dedupe, string? quarantine, string expected)
    {
        var settings = Valid();
        settings["Relay:DedupeRetentionDays"] = dedupe;
        if (quarantine is not null)
        {
            settings["Relay:QuarantineRetentionDays"] = quarantine;
        }

        var services = RelayServices(settings);

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<RelayOptions>>().Value);

        Assert.Contains(expected, string.Join(" | ", ex.Failures), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Collector:Sources:1:Name", "web", "is used twice")]
    [InlineData("Collector:Sources:1:WriteKeySetting", "", "WriteKeySetting is empty")]
    [InlineData("Collector:Sources:1:AllowedOrigins:0", "https://shop.example.com/", "scheme://host[:port]")]
    [InlineData("Collector:Sources:1:AllowedOrigins:0", "shop.example.com", "scheme://host[:port]")]
    [InlineData("Collector:Sources:1:Store", "acme-nowhere", "MParticle:Stores does not list")]
    [InlineData("Collector:Sources:1:Currency", "eur", "ISO 4217")]
    [InlineData("Collector:Sources:1:Name", "Web Shop", "lowercase letters")]
    [InlineData("Collector:Sources:1:RateLimitPerSecond", "0", "RateLimitPerSecond")]
    public void CollectorSources_BadSettings_RefuseToStart_NamingTheSetting(string key, string value, string expected)
    {
        var settings = Valid();
        settings["Collector:Sources:0:Name"] = "web";
        settings["Collector:Sources:0:WriteKeySetting"] = "WebKey";
        settings["Collector:Sources:1:Name"] = "app";
        settings["Collector:Sources:1:WriteKeySetting"] = "AppKey";
        settings[key] = value;
        var services = RelayServices(settings);

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<CollectorOptions>>().Value);

        Assert.Contains(expected, string.Join(" | ", ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void DedupeRetentionAtLeastQuarantine_Starts()
    {
        var settings = Valid();
        settings["Relay:DedupeRetentionDays"] = "120";
        settings["Relay:QuarantineRetentionDays"] = "120";

        Assert.Equal(120, RelayServices(settings).GetRequiredService<IOptions<RelayOptions>>().Value.DedupeRetentionDays);
    }

    [Theory]
    [InlineData("Push:HttpTimeout", "00:05:00", null)] // the bounds themselves pass
    [InlineData("Push:HttpTimeout", "00:00:01", null)]
    [InlineData("Push:HttpTimeout", "00:05:00.001", "HttpTimeout must be between 00:00:01 and 00:05:00")]
    [InlineData("Push:HttpTimeout", "00:00:00.999", "HttpTimeout must be between 00:00:01 and 00:05:00")]
    [InlineData("Push:InitialBackoff", "00:00:00.050", "InitialBackoff must be between 00:00:00.1000000 and 00:10:00")]
    [InlineData("Relay:ConsentWait", "8.00:00:00", "ConsentWait must be between 00:00:00 and 7.00:00:00")]
    [InlineData("Relay:ConsentWait", "-00:00:01", "ConsentWait must be between 00:00:00 and 7.00:00:00")]
    public void TimeSpanSettings_OutsideTheirRange_RefuseToStart_NamingTheBounds(string key, string value, string? expected)
    {
        var settings = Valid();
        settings[key] = value;
        var services = RelayServices(settings);

        Exception? failure = Record.Exception(() =>
        {
            _ = services.GetRequiredService<IOptions<PushOptions>>().Value;
            _ = services.GetRequiredService<IOptions<RelayOptions>>().Value;
        });

        if (expected is null)
        {
            Assert.Null(failure);
        }
        else
        {
            Assert.Contains(expected, string.Join(" | ", Assert.IsType<OptionsValidationException>(failure).Failures), StringComparison.Ordinal);
        }
    }

    private static IServiceProvider RelayServices(Dictionary<string, string?> settings) =>
        new ServiceCollection()
            .AddCtMparticleRelay(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .BuildServiceProvider();

    [Fact]
    public void RunnerDefaultSettings_AreValid()
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "Fixtures", "settings", "ctmp.settings.json"))
            .Build();
        var services = new ServiceCollection().AddCtMparticleCore(configuration).BuildServiceProvider();

        Assert.Equal("sample", services.GetRequiredService<IOptions<MParticleOptions>>().Value.DefaultInput);
        Assert.Equal("development", services.GetRequiredService<IOptions<MappingOptions>>().Value.Environment);
    }

    [Fact]
    public void AddCtMparticleCore_EveryProblemIsReportedAtOnce()
    {
        var settings = Valid();
        settings["MParticle:Stores:0:Input"] = "acme-us";
        settings["MParticle:DefaultCountry"] = "de";

        var failure = Failure(settings);

        Assert.Contains("acme-us", failure, StringComparison.Ordinal);
        Assert.Contains("MParticle:DefaultCountry", failure, StringComparison.Ordinal);
    }
}
