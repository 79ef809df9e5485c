using CtMparticle.Configuration;
using CtMparticle.Tracking;

namespace CtMparticle.Sources.Commercetools;

/// <summary>
/// Customer messages to sign-ups, profile updates and consent updates. User attribute names are mParticle's
/// (<c>$FirstName</c>, <c>$LastName</c>, <c>$Country</c>) or the plan's own (<c>customer_group</c>, <c>store_key</c>,
/// <c>locale</c>, <c>email_verified</c>). Passwords, dates of birth and addresses are never read.
/// </summary>
internal static class CustomerMapper
{
    public const string FirstName = "$FirstName";
    public const string LastName = "$LastName";
    public const string Country = "$Country";
    public const string CustomerGroup = "customer_group";
    public const string StoreKey = "store_key";
    public const string Locale = "locale";
    public const string EmailVerified = "email_verified";

    public static bool Handles(CtMessage message) => message is CustomerCreatedMessage or CustomerEmailChangedMessage
        or CustomerEmailVerifiedMessage or CustomerDeletedMessage or CustomerGroupSetMessage or CustomerFirstNameSetMessage
        or CustomerLastNameSetMessage or CustomerCustomFieldAddedMessage or CustomerCustomFieldChangedMessage
        or CustomerCustomFieldRemovedMessage or CustomerCustomTypeSetMessage or CustomerCustomTypeRemovedMessage;

    public static MappingResult Map(CtMessage message, MappingOptions options, MParticleOptions routing) => message switch
    {
        CustomerCreatedMessage m => Created(m, options),
        CustomerEmailChangedMessage m => Profile(m, new UserIds(m.Resource.Id, m.Email), Set(), ["email"]),
        CustomerEmailVerifiedMessage m => Profile(m, Ids(m), Set((EmailVerified, "true")), [EmailVerified]),
        CustomerGroupSetMessage m => Profile(m, Ids(m), SetOrRemove(CustomerGroup, m.CustomerGroup?.Id), [CustomerGroup]),
        CustomerFirstNameSetMessage m => Profile(m, Ids(m), SetOrRemove(FirstName, m.FirstName), ["first_name"]),
        CustomerLastNameSetMessage m => Profile(m, Ids(m), SetOrRemove(LastName, m.LastName), ["last_name"]),
        CustomerCustomFieldAddedMessage m => FieldChanged(m, m.Name, m.Value, options),
        CustomerCustomFieldChangedMessage m => FieldChanged(m, m.Name, m.Value, options),
        CustomerCustomFieldRemovedMessage m => FieldChanged(m, m.Name, null, options),
        CustomerCustomTypeSetMessage m => TypeReplaced(m, m.CustomFields?.Fields, options),
        CustomerCustomTypeRemovedMessage m => TypeReplaced(m, null, options),
        CustomerDeletedMessage m => new MappingFiltered(Reason.CustomerDeletion,
            $"Customer {m.Resource.Id} was deleted. Deletion is a data subject request in mParticle (OpenDSR API), not an event; raise one for this customer id."),
        _ => new MappingFiltered(Reason.UnsupportedMessageType, $"Message type '{message.Type}' has no customer mapping."),
    };

    private static MappingResult Created(CustomerCreatedMessage message, MappingOptions options)
    {
        var customer = message.Customer;
        var storeKey = customer.Stores is { Count: > 0 } stores ? stores[0].Key : null;
        var address = DefaultAddress(customer);
        // Only the customer's own address says where they are; the store's country is the gate's fallback, after the stored region.
        var region = address is null ? null : PurchaseMapper.RegionOf(address);

        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        Add(set, FirstName, customer.FirstName);
        Add(set, LastName, customer.LastName);
        Add(set, Country, address?.Country.ToUpperInvariant());
        Add(set, CustomerGroup, customer.CustomerGroup?.Id);
        Add(set, StoreKey, storeKey);
        Add(set, Locale, customer.Locale);
        Add(set, EmailVerified, customer.IsEmailVerified is { } verified ? (verified ? "true" : "false") : null);
        foreach (var field in options.UserAttributeFields)
        {
            if (customer.Custom?.Fields is { } fields && fields.TryGetValue(field, out var value))
            {
                Add(set, field, CommercetoolsMapper.AttributeValue(value));
            }
        }

        var consent = ConsentReader.FromCustomFields(customer.Custom?.Fields, options.Consent, message.CreatedAt, absentMeansWithdrawn: false, Sequence(message));
        // The anonymous session that signed up links the visitor's earlier activity to the new customer.
        var user = new UserIds(customer.Id, customer.Email, customer.CreatedBy?.AnonymousId ?? message.CreatedBy?.AnonymousId);
        var context = Context(message, user, storeKey, region, consent.IsEmpty ? null : consent, customer.Locale);
        return new Mapped([new SignedUp(context, new ProfileAttributes(set, []), "commercetools")]);
    }

    private static MappingResult FieldChanged(CtMessage message, string field, System.Text.Json.JsonElement? value, MappingOptions options)
    {
        if (ConsentReader.FromFieldChange(field, value, options.Consent, message.CreatedAt, Sequence(message)) is { } consent)
        {
            return new Mapped([new ConsentUpdated(Context(message, Ids(message), null, null, consent, null), consent.Purposes)]);
        }

        if (options.UserAttributeFields.Contains(field, StringComparer.Ordinal))
        {
            var attributes = value is { } v && CommercetoolsMapper.AttributeValue(v) is { } text
                ? Set((field, text))
                : new ProfileAttributes(new Dictionary<string, string>(), [field]);
            return Profile(message, Ids(message), attributes, [field]);
        }

        return new MappingFiltered(Reason.CustomFieldNotMapped,
            $"Customer custom field '{field}' is neither a consent field (Mapping:Consent:Fields) nor a forwarded attribute (Mapping:UserAttributeFields).");
    }

    private static MappingResult TypeReplaced(CtMessage message, IReadOnlyDictionary<string, System.Text.Json.JsonElement>? fields, MappingOptions options)
    {
        // The whole field set was replaced (or removed): consent not present in the new set is no longer given.
        var consent = ConsentReader.FromCustomFields(fields, options.Consent, message.CreatedAt, absentMeansWithdrawn: true, Sequence(message));
        return new Mapped([new ConsentUpdated(Context(message, Ids(message), null, null, consent, null), consent.Purposes)]);
    }

    private static Mapped Profile(CtMessage message, UserIds user, ProfileAttributes attributes, IReadOnlyList<string> changed) =>
        new([new ProfileUpdated(Context(message, user, null, null, null, null), attributes, changed)]);

    private static EventContext Context(CtMessage message, UserIds user, string? storeKey, Region? region, ConsentSnapshot? consent, string? locale)
    {
        var key = EventKeys.Message(message.ProjectKey, message.Id);
        return new EventContext(Uuid5.ForEvent(key), key, message.CreatedAt, EventSource.Commercetools, message.Id,
            storeKey, region, user, consent, null, locale);
    }

    private static UserIds Ids(CtMessage message) => new(message.Resource.Id);

    /// <summary>The customer's own message order; 0 (absent in the body) says nothing.</summary>
    private static long? Sequence(CtMessage message) => message.SequenceNumber > 0 ? message.SequenceNumber : null;

    private static CtAddress? DefaultAddress(CtCustomer customer)
    {
        if (customer.Addresses is not { Count: > 0 } addresses)
        {
            return null;
        }

        return addresses.FirstOrDefault(a => a.Id is not null && a.Id == customer.DefaultBillingAddressId)
            ?? addresses.FirstOrDefault(a => a.Id is not null && a.Id == customer.DefaultShippingAddressId)
            ?? addresses[0];
    }

    private static ProfileAttributes Set(params (string Key, string Value)[] values) =>
        new(values.ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal), []);

    private static ProfileAttributes SetOrRemove(string key, string? value) =>
        string.IsNullOrWhiteSpace(value) ? new ProfileAttributes(new Dictionary<string, string>(), [key]) : Set((key, value));

    private static void Add(Dictionary<string, string> set, string key, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            set[key] = value.Trim();
        }
    }
}
