using System.Text.Json.Nodes;
using CtMparticle.Configuration;
using CtMparticle.Delivery;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Sources.Commercetools;

public sealed class CustomerMappingTests
{
    private static JsonObject Wire(TrackingEvent e, BatchBuilder? builder = null)
    {
        var built = TestOptions.Built(e, builder);
        Assert.Empty(EventsApiRules.Check(built.Batch, built.Json.Length));
        return JsonNode.Parse(built.Json)!.AsObject();
    }

    [Fact]
    public void Map_CustomerCreated_IsASignUpWithProfileConsentAndTheAnonymousSession()
    {
        var signUp = TestOptions.Single<SignedUp>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.CustomerCreated)));
        var batch = Wire(signUp);

        var identities = batch["user_identities"]!.AsObject();
        Assert.Equal("7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", (string?)identities["customer_id"]);
        Assert.Equal("anna.schmidt@example.com", (string?)identities["email"]);
        Assert.Equal("0e4b8d2f-7c1a-4e95-b6d3-2a9f5c8e1b70", (string?)identities["other"]); // the signing-up session

        var attributes = batch["user_attributes"]!.AsObject();
        Assert.Equal("Anna", (string?)attributes["$FirstName"]);
        Assert.Equal("Schmidt", (string?)attributes["$LastName"]);
        Assert.Equal("DE", (string?)attributes["$Country"]);
        Assert.Equal("acme-de", (string?)attributes["store_key"]);
        Assert.Equal("de-DE", (string?)attributes["locale"]);
        Assert.Equal("false", (string?)attributes["email_verified"]);
        Assert.Null(attributes["password"]);
        Assert.DoesNotContain("REDACTED-HASH", batch.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("1990-06-12", batch.ToJsonString(), StringComparison.Ordinal); // date of birth is never sent

        var gdpr = batch["consent_state"]!["gdpr"]!.AsObject();
        Assert.Equal(4, gdpr.Count);
        Assert.True((bool)gdpr["marketing_email"]!["consented"]!);
        Assert.False((bool)gdpr["marketing_sms"]!["consented"]!);
        Assert.True((bool)gdpr["analytics"]!["consented"]!);
        Assert.True((bool)gdpr["personalization"]!["consented"]!);
        Assert.Equal(1738516801000, (long)gdpr["analytics"]!["timestamp_unixtime_ms"]!); // consentUpdatedAt
        Assert.Equal("2025-01", (string?)gdpr["analytics"]!["document"]); // consentPolicyVersion

        var data = batch["events"]![0]!["data"]!;
        Assert.Equal("Signed Up", (string?)data["event_name"]);
        Assert.Equal(1738516803441, (long)data["timestamp_unixtime_ms"]!);
    }

    [Fact]
    public void Map_CustomerEmailChanged_IsAProfileUpdateCarryingTheNewEmail()
    {
        var update = TestOptions.Single<ProfileUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.CustomerEmailChanged)));
        var batch = Wire(update);

        Assert.Equal("anna.s@example.org", (string?)batch["user_identities"]!["email"]);
        Assert.Equal("7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", (string?)batch["user_identities"]!["customer_id"]);
        Assert.DoesNotContain("anna.schmidt@example.com", batch.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("Profile Updated", (string?)batch["events"]![0]!["data"]!["event_name"]);
        Assert.Equal("email", (string?)batch["events"]![0]!["data"]!["custom_attributes"]!["changed_fields"]);
    }

    [Fact]
    public void Map_CloudEventsConsentOptOut_IsAConsentUpdateWithConsentedFalse()
    {
        var update = TestOptions.Single<ConsentUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.CloudEventsConsent)));
        var batch = Wire(update);

        var purpose = batch["consent_state"]!["gdpr"]!["marketing_email"]!;
        Assert.False((bool)purpose["consented"]!);
        Assert.Equal(1744312928119, (long)purpose["timestamp_unixtime_ms"]!);
        Assert.Single(batch["consent_state"]!["gdpr"]!.AsObject());
        Assert.Equal("Consent Updated", (string?)batch["events"]![0]!["data"]!["event_name"]);
    }

    [Fact]
    public void Map_ConsentFieldRemoved_WithdrawsThatPurpose()
    {
        var json = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        json["type"] = "CustomerCustomFieldRemoved";
        json.Remove("value");
        json.Remove("previousValue");

        var update = TestOptions.Single<ConsentUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.False(update.Context.Consent!.Gdpr["marketing_email"].Consented);
    }

    [Fact]
    public void Map_CustomTypeSetWithoutConsentFields_WithdrawsEveryPurpose()
    {
        var json = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        json["type"] = "CustomerCustomTypeSet";
        json["customFields"] = new JsonObject
        {
            ["type"] = new JsonObject { ["typeId"] = "type", ["id"] = "other-type" },
            ["fields"] = new JsonObject { ["consentAnalytics"] = true, ["loyaltyTier"] = "gold" },
        };

        var update = TestOptions.Single<ConsentUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        var gdpr = update.Context.Consent!.Gdpr;
        Assert.True(gdpr["analytics"].Consented);
        Assert.False(gdpr["marketing_email"].Consented);
        Assert.False(gdpr["marketing_sms"].Consented);
        Assert.False(gdpr["personalization"].Consented);
    }

    [Fact]
    public void Map_CcpaFieldWithInversion_BecomesDataSaleOptOut()
    {
        var options = new MappingOptions
        {
            Environment = "production",
            Consent = new ConsentOptions
            {
                Fields = [new ConsentFieldOptions { Field = "allowDataSale", Purpose = "data_sale_opt_out", Regulation = ConsentRegulation.Ccpa, Invert = true }],
            },
        };
        var json = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        json["name"] = "allowDataSale";
        json["value"] = false; // does not allow sale = opted out

        var update = TestOptions.Single<ConsentUpdated>(TestOptions.Mapper(options).Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));
        var batch = Wire(update, TestOptions.Builder(options));

        Assert.True((bool)batch["consent_state"]!["ccpa"]!["data_sale_opt_out"]!["consented"]!);
        Assert.Null(batch["consent_state"]!["gdpr"]);
    }

    [Fact]
    public void Map_UnmappedCustomField_IsFilteredNamingTheSettings()
    {
        var json = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        json["name"] = "favouriteColour";
        json["value"] = "blue";

        var result = Assert.IsType<MappingFiltered>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.CustomFieldNotMapped, result.Reason);
        Assert.Contains("Mapping:UserAttributeFields", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_AllowListedCustomField_IsAUserAttribute()
    {
        var options = new MappingOptions { Environment = "production", UserAttributeFields = ["loyaltyTier"] };
        var json = Samples.Json(Samples.CloudEventsConsent)["data"]!.AsObject();
        json["name"] = "loyaltyTier";
        json["value"] = new JsonObject { ["key"] = "gold", ["label"] = "Gold" };

        var update = TestOptions.Single<ProfileUpdated>(TestOptions.Mapper(options).Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("gold", update.Attributes.Set["loyaltyTier"]);
    }

    [Theory]
    [InlineData("CustomerFirstNameSet", "firstName", "Annika", "$FirstName")]
    [InlineData("CustomerLastNameSet", "lastName", "Schmitt", "$LastName")]
    public void Map_NameSet_SetsTheReservedAttribute(string type, string field, string value, string attribute)
    {
        var json = Samples.Json(Samples.CustomerEmailChanged);
        json["type"] = type;
        json.Remove("email");
        json.Remove("oldEmail");
        json[field] = value;

        var update = TestOptions.Single<ProfileUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(value, update.Attributes.Set[attribute]);
    }

    [Fact]
    public void Map_CustomerGroupCleared_RemovesTheAttribute()
    {
        var json = Samples.Json(Samples.CustomerEmailChanged);
        json["type"] = "CustomerGroupSet";
        json.Remove("email");
        json.Remove("oldEmail");

        var update = TestOptions.Single<ProfileUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));
        var batch = Wire(update);

        Assert.Equal("customer_group", (string?)Assert.Single(batch["deleted_user_attributes"]!.AsArray()));
    }

    [Fact]
    public void Map_CustomerEmailVerified_SetsEmailVerified()
    {
        var json = Samples.Json(Samples.CustomerEmailChanged);
        json["type"] = "CustomerEmailVerified";
        json.Remove("email");
        json.Remove("oldEmail");

        var update = TestOptions.Single<ProfileUpdated>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal("true", update.Attributes.Set["email_verified"]);
    }

    [Fact]
    public void Map_CustomerDeleted_IsFilteredPointingToADataSubjectRequest()
    {
        var json = Samples.Json(Samples.CustomerEmailChanged);
        json["type"] = "CustomerDeleted";

        var result = Assert.IsType<MappingFiltered>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.CustomerDeletion, result.Reason);
        Assert.Contains("OpenDSR", result.Detail, StringComparison.Ordinal);
    }
}
