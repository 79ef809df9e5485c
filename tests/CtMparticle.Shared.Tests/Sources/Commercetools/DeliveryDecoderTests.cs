using System.Text;
using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests.Sources.Commercetools;

public sealed class DeliveryDecoderTests
{
    [Fact]
    public void Decode_RegisteredOrderCreated_ReadsEnvelopeAndOrder()
    {
        var message = Samples.Decode<OrderCreatedMessage>(Samples.OrderCreatedRegistered);

        Assert.Equal("a3c8e1f6-9b2d-4e75-8c40-1f7d3b9a6e52", message.Id);
        Assert.Equal("acme-commerce-prod", message.ProjectKey);
        Assert.Equal("OrderCreated", message.Type);
        Assert.Equal(1, message.SequenceNumber);
        Assert.Equal(1, message.ResourceVersion);
        Assert.Equal(new CtReference { TypeId = "order", Id = "b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30" }, message.Resource);
        Assert.Equal("DE-100234", message.UserProvidedIdentifier("orderNumber"));
        Assert.Equal(new DateTimeOffset(2025, 3, 14, 9, 41, 27, 512, TimeSpan.Zero), message.CreatedAt);

        var order = message.Order;
        Assert.Equal("DE-100234", order.OrderNumber);
        Assert.Equal("7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", order.CustomerId);
        Assert.Equal("acme-de", order.Store!.Key);
        Assert.Equal("de-DE", order.Locale);
        Assert.Equal(2, order.LineItems.Count);
        Assert.Equal("MTS-NAVY-M", order.LineItems[0].Variant.Sku);
        Assert.Equal(2, order.LineItems[0].Quantity);
        Assert.Equal(7198, order.LineItems[0].TotalPrice.CentAmount);
        Assert.Equal(new CtMoney { Type = "centPrecision", CurrencyCode = "EUR", CentAmount = 9042, FractionDigits = 2 }, order.TotalPrice);
        Assert.Equal(1443, order.TaxedPrice!.TotalTax!.CentAmount);
        Assert.Equal(495, order.ShippingInfo!.Price.CentAmount);
        Assert.Equal("DE", order.BillingAddress!.Country);
        Assert.Equal("e41b7c9d-2f6a-4d85-b3e0-9a1c5d7f8b62", Assert.Single(order.PaymentInfo!.Payments!).Id);
    }

    [Fact]
    public void Decode_GuestOrderCreated_HasNoCustomerIdButAnonymousIdAndEmail()
    {
        var order = Samples.Decode<OrderCreatedMessage>(Samples.OrderCreatedGuest).Order;

        Assert.Null(order.CustomerId);
        Assert.Equal("c0f7e3a1-5b9d-4c82-8e46-2a1d9f7b3c58", order.AnonymousId);
        Assert.Equal("tom.baker@example.co.uk", order.CustomerEmail);
        Assert.Equal("GBP", order.TotalPrice.CurrencyCode);
    }

    [Fact]
    public void Decode_ReturnInfoAdded_ReadsReturnItems()
    {
        var message = Samples.Decode<ReturnInfoAddedMessage>(Samples.ReturnInfoAdded);

        var item = Assert.Single(message.ReturnInfo.Items);
        Assert.Equal("LineItemReturnItem", item.Type);
        Assert.Equal("e5c3a9f1-7d2b-4e86-b0a4-1c9f6d3e8b27", item.Id);
        Assert.Equal("3e9a7c15-8d2b-4f60-a4e1-7c5b9d3f0a82", item.LineItemId);
        Assert.Equal(1, item.Quantity);
        Assert.Equal("Returned", item.ShipmentState);
    }

    [Fact]
    public void Decode_RefundTransaction_ReadsTransaction()
    {
        var message = Samples.Decode<PaymentTransactionAddedMessage>(Samples.RefundTransaction);

        Assert.Equal("payment", message.Resource.TypeId);
        Assert.Equal("Refund", message.Transaction.Type);
        Assert.Equal("Success", message.Transaction.State);
        Assert.Equal(3599, message.Transaction.Amount.CentAmount);
        Assert.Equal(new DateTimeOffset(2025, 3, 22, 8, 12, 43, TimeSpan.Zero), message.Transaction.Timestamp);
    }

    [Fact]
    public void Decode_CustomerCreated_ReadsCustomerWithoutPassword()
    {
        var message = Samples.Decode<CustomerCreatedMessage>(Samples.CustomerCreated);

        var customer = message.Customer;
        Assert.Equal("anna.schmidt@example.com", customer.Email);
        Assert.Equal("Anna", customer.FirstName);
        Assert.Equal("acme-de", Assert.Single(customer.Stores!).Key);
        Assert.Equal("0e4b8d2f-7c1a-4e95-b6d3-2a9f5c8e1b70", customer.CreatedBy!.AnonymousId);
        Assert.True(customer.Custom!.Fields!["consentMarketingEmail"].GetBoolean());
        // The DTO has no password member: the hash is never materialised.
        Assert.DoesNotContain(typeof(CtCustomer).GetProperties(), p => p.Name.Contains("Password", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Decode_CustomerEmailChanged_ReadsBothEmails()
    {
        var message = Samples.Decode<CustomerEmailChangedMessage>(Samples.CustomerEmailChanged);

        Assert.Equal("anna.s@example.org", message.Email);
        Assert.Equal("anna.schmidt@example.com", message.OldEmail);
    }

    [Fact]
    public void Decode_OrderStateChanged_ReadsStates()
    {
        var message = Samples.Decode<OrderStateChangedMessage>(Samples.OrderStateChanged);

        Assert.Equal("Complete", message.OrderState);
        Assert.Equal("Confirmed", message.OldOrderState);
    }

    [Fact]
    public void Decode_PayloadNotIncluded_SaysWhichResourceToFetch()
    {
        var result = Assert.IsType<FetchRequired>(DeliveryDecoder.Decode(Samples.Bytes(Samples.PayloadNotIncluded)));

        Assert.Equal("8a2f6c1e-3d9b-4b75-a0e4-7c1d5f9b2e63", result.MessageId);
        Assert.Equal("order", result.ResourceTypeId);
        Assert.Equal("2c7e9a4f-6b1d-4e83-95a0-1f8d3b7c6e29", result.ResourceId);
        Assert.Equal("OrderCreated", result.PayloadType);
        Assert.Equal("Payload too large.", result.CommercetoolsReason);
        Assert.Equal(Reason.PayloadNotIncluded, result.Reason);
        Assert.Contains("fetch order 2c7e9a4f-6b1d-4e83-95a0-1f8d3b7c6e29", result.Detail, StringComparison.Ordinal);
        Assert.Equal("OrderCreated", result.Info.MessageType);
    }

    [Fact]
    public void Decode_PayloadNotIncludedForUntrackedType_IsFilteredWithoutFetch()
    {
        var json = Samples.Json(Samples.PayloadNotIncluded);
        json["resource"]!["typeId"] = "product";
        json["payloadNotIncluded"]!["payloadType"] = "ProductPublished";

        var result = Assert.IsType<DecodeFiltered>(DeliveryDecoder.Decode(Samples.Bytes(json)));

        Assert.Equal(Reason.UnsupportedMessageType, result.Reason);
        Assert.Contains("ProductPublished", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_CartResourceUpdated_IsATypedChangeNotification()
    {
        var change = Samples.Decode<CtChangeNotification>(Samples.CartChange);

        Assert.Equal("ResourceUpdated", change.NotificationType);
        Assert.Equal("cart", change.Resource.TypeId);
        Assert.Equal(7, change.Version);
        Assert.Equal(6, change.OldVersion);
    }

    [Theory]
    [InlineData("ResourceCreated")]
    [InlineData("ResourceDeleted")]
    public void Decode_OtherChangeNotifications_AreTyped(string notificationType)
    {
        var json = Samples.Json(Samples.CartChange);
        json["notificationType"] = notificationType;
        json["resource"]!["typeId"] = "customer";
        json["dataErasure"] = true;

        var change = Samples.Decode<CtChangeNotification>(Samples.Bytes(json));

        Assert.Equal(notificationType, change.NotificationType);
        Assert.True(change.DataErasure);
    }

    [Fact]
    public void Decode_CloudEvents_UnwrapsDataAndRecordsTheFormat()
    {
        var result = Assert.IsType<Decoded>(DeliveryDecoder.Decode(Samples.Bytes(Samples.CloudEventsConsent)));

        var message = Assert.IsType<CustomerCustomFieldChangedMessage>(result.Delivery);
        Assert.Equal(DeliveryFormat.CloudEvents, result.Info.Format);
        Assert.Equal("2b9d5f1a-7e3c-4a86-b4d0-6c8e2a1f9b57", message.Id);
        Assert.Equal("consentMarketingEmail", message.Name);
        Assert.False(message.Value.GetBoolean());
        Assert.True(message.PreviousValue!.Value.GetBoolean());
        Assert.Equal(5, message.SequenceNumber);
    }

    [Fact]
    public void Decode_SubscriptionTestNotification_IsFiltered()
    {
        var body = """
            { "notificationType": "ResourceCreated", "projectKey": "acme-commerce-prod",
              "resource": { "typeId": "subscription", "id": "0f0e7d6c-1111-2222-3333-444455556666" },
              "version": 1, "modifiedAt": "2025-03-01T10:00:00.000Z" }
            """u8.ToArray();

        var result = Assert.IsType<DecodeFiltered>(DeliveryDecoder.Decode(body));

        Assert.Equal(Reason.SubscriptionTestNotification, result.Reason);
        Assert.Equal("subscription", result.Info.ResourceTypeId);
    }

    [Fact]
    public void Decode_UnknownMessageType_IsFilteredNamingTheType()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["type"] = "OrderEditApplied";

        var result = Assert.IsType<DecodeFiltered>(DeliveryDecoder.Decode(Samples.Bytes(json)));

        Assert.Equal(Reason.UnsupportedMessageType, result.Reason);
        Assert.Contains("'OrderEditApplied'", result.Detail, StringComparison.Ordinal);
        Assert.Equal("OrderEditApplied", result.Info.MessageType);
    }

    [Fact]
    public void Decode_UnknownNotificationType_IsFiltered()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["notificationType"] = "Event";

        var result = Assert.IsType<DecodeFiltered>(DeliveryDecoder.Decode(Samples.Bytes(json)));

        Assert.Equal(Reason.UnsupportedNotificationType, result.Reason);
        Assert.Contains("'Event'", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_MessagesApiShapeWithoutNotificationType_IsReadAsAMessage()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json.Remove("notificationType");

        Assert.IsType<OrderStateChangedMessage>(Samples.Decode<CtMessage>(Samples.Bytes(json)));
    }

    [Fact]
    public void Decode_EveryMessageTypeTheIssueNames_IsSupported()
    {
        string[] required =
        [
            "OrderCreated", "OrderImported", "OrderCreatedFromRecurringOrder", "OrderStateChanged", "OrderShipmentStateChanged",
            "OrderPaymentStateChanged", "OrderCustomerSet", "ReturnInfoAdded", "ReturnInfoSet", "PaymentTransactionAdded",
            "PaymentTransactionStateChanged", "CustomerCreated", "CustomerEmailChanged", "CustomerEmailVerified", "CustomerDeleted",
            "CustomerGroupSet", "CustomerFirstNameSet", "CustomerLastNameSet", "CustomerCustomFieldAdded", "CustomerCustomFieldChanged",
            "CustomerCustomFieldRemoved", "CustomerCustomTypeSet",
        ];

        Assert.All(required, type => Assert.Contains(type, DeliveryDecoder.SupportedMessageTypes));
    }

    [Theory]
    [InlineData("OrderImported", typeof(OrderImportedMessage))]
    [InlineData("OrderCreatedFromRecurringOrder", typeof(OrderCreatedFromRecurringOrderMessage))]
    public void Decode_OtherOrderCreatingTypes_CarryTheOrder(string type, Type expected)
    {
        var json = Samples.Json(Samples.OrderCreatedRegistered);
        json["type"] = type;

        var message = Samples.Decode<CtOrderCarryingMessage>(Samples.Bytes(json));

        Assert.IsType(expected, message);
        Assert.Equal("DE-100234", message.Order.OrderNumber);
    }

    [Fact]
    public void Decode_SmallMessageTypes_AreTyped()
    {
        var cases = new (string Type, string Resource, string Extra, Type Expected)[]
        {
            ("OrderShipmentStateChanged", "order", "\"shipmentState\":\"Shipped\",\"oldShipmentState\":\"Pending\"", typeof(OrderShipmentStateChangedMessage)),
            ("OrderPaymentStateChanged", "order", "\"paymentState\":\"Paid\"", typeof(OrderPaymentStateChangedMessage)),
            ("OrderCustomerSet", "order", "\"customer\":{\"typeId\":\"customer\",\"id\":\"c-1\"}", typeof(OrderCustomerSetMessage)),
            ("ReturnInfoSet", "order", "\"returnInfo\":[]", typeof(ReturnInfoSetMessage)),
            ("PaymentTransactionStateChanged", "payment", "\"transactionId\":\"t-1\",\"state\":\"Success\"", typeof(PaymentTransactionStateChangedMessage)),
            ("CustomerEmailVerified", "customer", "\"x\":1", typeof(CustomerEmailVerifiedMessage)),
            ("CustomerDeleted", "customer", "\"email\":\"a@example.com\"", typeof(CustomerDeletedMessage)),
            ("CustomerGroupSet", "customer", "\"customerGroup\":{\"typeId\":\"customer-group\",\"id\":\"g-1\"}", typeof(CustomerGroupSetMessage)),
            ("CustomerFirstNameSet", "customer", "\"firstName\":\"Ann\"", typeof(CustomerFirstNameSetMessage)),
            ("CustomerLastNameSet", "customer", "\"lastName\":\"Lee\"", typeof(CustomerLastNameSetMessage)),
            ("CustomerCustomFieldAdded", "customer", "\"name\":\"consentAnalytics\",\"value\":true", typeof(CustomerCustomFieldAddedMessage)),
            ("CustomerCustomFieldRemoved", "customer", "\"name\":\"consentAnalytics\"", typeof(CustomerCustomFieldRemovedMessage)),
            ("CustomerCustomTypeSet", "customer", "\"customFields\":{\"type\":{\"typeId\":\"type\",\"id\":\"t\"},\"fields\":{}}", typeof(CustomerCustomTypeSetMessage)),
            ("CustomerCustomTypeRemoved", "customer", "\"previousTypeId\":\"t\"", typeof(CustomerCustomTypeRemovedMessage)),
        };

        foreach (var (type, resource, extra, expected) in cases)
        {
            var body = Encoding.UTF8.GetBytes(
                $$"""{"notificationType":"Message","projectKey":"p","id":"m-{{type}}","version":1,"sequenceNumber":2,"resource":{"typeId":"{{resource}}","id":"r-1"},"resourceVersion":3,"type":"{{type}}",{{extra}},"createdAt":"2025-01-01T00:00:00.000Z","lastModifiedAt":"2025-01-01T00:00:00.000Z"}""");
            var result = DeliveryDecoder.Decode(body);
            var decoded = Assert.IsType<Decoded>(result);
            Assert.IsType(expected, decoded.Delivery);
        }
    }

    [Fact]
    public void Decode_UnknownMembers_AreIgnored()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["isPlatformClient"] = true;
        json["somethingNew"] = new JsonObject { ["nested"] = new JsonArray(1, 2, 3) };

        Assert.Equal("Complete", Samples.Decode<OrderStateChangedMessage>(Samples.Bytes(json)).OrderState);
    }

    [Fact]
    public void Decode_Utf8ByteOrderMark_IsAccepted()
    {
        var body = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Samples.Bytes(Samples.OrderStateChanged)).ToArray();

        Assert.IsType<Decoded>(DeliveryDecoder.Decode(body));
    }

    [Fact]
    public void Decode_SameBytesTwice_GivesEqualResults()
    {
        var body = Samples.Bytes(Samples.OrderCreatedRegistered);

        var first = Assert.IsType<Decoded>(DeliveryDecoder.Decode(body));
        var second = Assert.IsType<Decoded>(DeliveryDecoder.Decode(body));

        Assert.Equal(first.Info, second.Info);
        Assert.Equal(((CtMessage)first.Delivery).Id, ((CtMessage)second.Delivery).Id);
    }
}
