using System.Text.Json.Nodes;
using CtMparticle.Sources.Commercetools;
using CtMparticle.Tracking;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>Returns, refunds, status changes and guest-order linking: messages that need the stored order context.</summary>
public sealed class OrderFollowUpMappingTests
{
    private static readonly OrderContext Order01 = TestOptions.Order01Context();

    [Fact]
    public void Map_ReturnInfoAdded_IsAnOrderReturnedEventWithSkuAndQuantityAndNoMoney()
    {
        var message = Samples.Decode<ReturnInfoAddedMessage>(Samples.ReturnInfoAdded);

        var returned = TestOptions.Single<OrderReturned>(TestOptions.Mapper().Map(message, Order01));
        var built = TestOptions.Built(returned);
        Assert.Empty(EventsApiRules.Check(built.Batch, built.Json.Length));
        var batch = JsonNode.Parse(built.Json)!;
        var e = batch["events"]![0]!;

        // Written from sample 03's fields (and sample 01's order, which it returns from).
        Assert.Equal("custom_event", (string?)e["event_type"]);
        var data = e["data"]!;
        Assert.Equal(("Order Returned", "transaction"), ((string?)data["event_name"], (string?)data["custom_event_type"]));
        Assert.Equal("0f2f3823-17b8-5425-8c80-b27b053c7ba0", (string?)data["source_message_id"]); // the return item's id, as before
        Assert.Equal(1742565909377, (long)data["timestamp_unixtime_ms"]!);                          // 2025-03-21T14:05:09.377Z, the item's createdAt
        Assert.Null(data["product_action"]);                                                          // goods, not money
        var attributes = data["custom_attributes"]!.AsObject();
        Assert.Equal("b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30", (string?)attributes["order_id"]);
        Assert.Equal("DE-100234", (string?)attributes["transaction_id"]);
        Assert.Equal("e5c3a9f1-7d2b-4e86-b0a4-1c9f6d3e8b27", (string?)attributes["return_item_id"]);
        Assert.Equal(("MTS-NAVY-M", "1"), ((string?)attributes["sku"], (string?)attributes["quantity"]));
        Assert.Equal(("Returned", "Initial"), ((string?)attributes["shipment_state"], (string?)attributes["payment_state"]));
        Assert.Equal("acme-de", (string?)attributes["store_key"]);
        Assert.Equal("7d2a9c41-5e8b-4f13-a6d0-3c9e1b7f2a58", (string?)batch["user_identities"]!["customer_id"]);
    }

    [Fact]
    public void Map_ReturnWithRefundWithAmount_AlsoRefundsTheReturnedUnitsAtThePricePaid()
    {
        var mapping = new CtMparticle.Configuration.MappingOptions { Environment = "production", DefaultLocale = "en", Returns = CtMparticle.Configuration.ReturnsMode.RefundWithAmount };
        var message = Samples.Decode<ReturnInfoAddedMessage>(Samples.ReturnInfoAdded);

        var events = Assert.IsType<Mapped>(TestOptions.Mapper(mapping).Map(message, Order01)).Events;

        Assert.IsType<OrderReturned>(events[0]);
        var refund = Assert.IsType<OrderRefunded>(events[1]);
        // Sample 01 sold MTS-NAVY-M twice at 39.99, discounted to 35.99 each; one unit came back.
        Assert.Equal(("EUR", 35.99m, RefundSource.ReturnItem), (refund.Currency, refund.Amount, refund.Source));
        var line = Assert.Single(refund.Products);
        Assert.Equal(("MTS-NAVY-M", 1L, 35.99m, 35.99m), (line.Sku, line.Quantity, line.UnitPrice, line.LineTotal));
        Assert.Equal(Uuid5.ForEvent("acme-commerce-prod/order/b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30/return-item/e5c3a9f1-7d2b-4e86-b0a4-1c9f6d3e8b27/refund"), refund.Context.EventId);
        var action = TestOptions.Built(refund, TestOptions.Builder(mapping)).Batch.Events[0].Data.ProductAction!;
        Assert.Equal(("refund", 35.99m), (action.Action, action.TotalAmount));
    }

    [Fact]
    public void Map_ReturnInfoSetRepeatingAnItem_GivesTheSameEventIdAsReturnInfoAdded()
    {
        var added = Samples.Decode<ReturnInfoAddedMessage>(Samples.ReturnInfoAdded);
        var json = Samples.Json(Samples.ReturnInfoAdded);
        json["id"] = "99999999-0000-4000-8000-000000000001";
        json["type"] = "ReturnInfoSet";
        json["returnInfo"] = new JsonArray(json["returnInfo"]!.DeepClone());
        var set = Samples.Decode<ReturnInfoSetMessage>(Samples.Bytes(json));

        var fromAdded = TestOptions.Single<OrderReturned>(TestOptions.Mapper().Map(added, Order01));
        var fromSet = TestOptions.Single<OrderReturned>(TestOptions.Mapper().Map(set, Order01));

        Assert.Equal(fromAdded.Context.EventId, fromSet.Context.EventId);
    }

    [Fact]
    public void Map_ReturnWithoutOrderContext_NeedsTheOrder()
    {
        var result = Assert.IsType<MappingNeedsContext>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.ReturnInfoAdded)));

        Assert.Equal(Reason.OrderContextMissing, result.Reason);
        Assert.Equal("b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30", result.LookupId);
    }

    [Fact]
    public void Map_ReturnOfALineTheContextDoesNotKnow_NeedsTheOrder()
    {
        var json = Samples.Json(Samples.ReturnInfoAdded);
        json["returnInfo"]!["items"]![0]!["lineItemId"] = "unknown-line";

        var result = Assert.IsType<MappingNeedsContext>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), Order01));

        Assert.Contains("unknown-line", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Map_RefundTransaction_IsARefundWithTheAmount()
    {
        var message = Samples.Decode<PaymentTransactionAddedMessage>(Samples.RefundTransaction);
        Assert.Equal((null, "e41b7c9d-2f6a-4d85-b3e0-9a1c5d7f8b62"), CommercetoolsMapper.ContextLookup(message));

        var refund = TestOptions.Single<OrderRefunded>(TestOptions.Mapper().Map(message, Order01));
        var data = JsonNode.Parse(TestOptions.Built(refund).Json)!["events"]![0]!["data"]!;

        Assert.Equal("3e979d06-da7f-52e0-a7f4-66661f408e91", (string?)data["source_message_id"]);
        Assert.Equal(1742631163000, (long)data["timestamp_unixtime_ms"]!); // transaction.timestamp
        Assert.Equal("EUR", (string?)data["currency_code"]);
        Assert.Equal("refund", (string?)data["product_action"]!["action"]);
        Assert.Equal("DE-100234", (string?)data["product_action"]!["transaction_id"]);
        Assert.Equal("35.99", data["product_action"]!["total_amount"]!.ToJsonString());
        Assert.Null(data["product_action"]!["products"]);
        Assert.Equal("payment_transaction", (string?)data["custom_attributes"]!["refund_source"]);
    }

    [Fact]
    public void Map_RefundWithoutOrderContext_NeedsThePaymentsOrder()
    {
        var result = Assert.IsType<MappingNeedsContext>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.RefundTransaction)));

        Assert.Equal(Reason.PaymentContextMissing, result.Reason);
        Assert.Equal("e41b7c9d-2f6a-4d85-b3e0-9a1c5d7f8b62", result.LookupId);
    }

    [Theory]
    [InlineData("Charge", "Success", "transaction_not_tracked")]
    [InlineData("Authorization", "Success", "transaction_not_tracked")]
    [InlineData("Refund", "Pending", "refund_not_settled")]
    [InlineData("Refund", "Failure", "refund_not_settled")]
    public void Map_TransactionThatIsNotASettledRefund_IsFiltered(string type, string state, string expected)
    {
        var json = Samples.Json(Samples.RefundTransaction);
        json["transaction"]!["type"] = type;
        json["transaction"]!["state"] = state;

        var result = Assert.IsType<MappingFiltered>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), Order01));

        Assert.Equal(expected, result.Reason.Code());
    }

    [Fact]
    public void Map_TransactionStateChangedToSuccess_NeedsThePayment()
    {
        var json = Samples.Json(Samples.RefundTransaction);
        json["type"] = "PaymentTransactionStateChanged";
        json.Remove("transaction");
        json["transactionId"] = "c8a2e6f4-1b9d-4c57-a3e0-7d5f2b9c1e86";
        json["state"] = "Success";

        var result = Assert.IsType<MappingNeedsContext>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), Order01));

        Assert.Equal(Reason.PaymentContextMissing, result.Reason);
    }

    [Fact]
    public void Map_OrderStateChanged_IsAnOrderStatusCustomEvent()
    {
        var status = TestOptions.Single<OrderStatusChanged>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.OrderStateChanged), Order01));
        var data = JsonNode.Parse(TestOptions.Built(status).Json)!["events"]![0]!["data"]!;

        Assert.Equal("custom_event", (string?)JsonNode.Parse(TestOptions.Built(status).Json)!["events"]![0]!["event_type"]);
        Assert.Equal("Order Status Changed", (string?)data["event_name"]);
        Assert.Equal("transaction", (string?)data["custom_event_type"]);
        Assert.Equal("87b9b4ce-9a69-566e-96e6-39cb107a75d4", (string?)data["source_message_id"]);
        Assert.Equal(1742277735660, (long)data["timestamp_unixtime_ms"]!);
        var attributes = data["custom_attributes"]!;
        Assert.Equal("order", (string?)attributes["status_type"]);
        Assert.Equal("Complete", (string?)attributes["status"]);
        Assert.Equal("Confirmed", (string?)attributes["previous_status"]);
        Assert.Equal("DE-100234", (string?)attributes["transaction_id"]);
    }

    [Fact]
    public void Map_OrderStateChangedWithoutContext_NeedsTheOrder()
    {
        var message = Samples.Decode<CtMessage>(Samples.OrderStateChanged);

        var result = Assert.IsType<MappingNeedsContext>(TestOptions.Mapper().Map(message));

        Assert.Equal(Reason.OrderContextMissing, result.Reason);
        Assert.Equal(("b5f3c2a8-6d1e-4f0b-9a7c-2e8d4c1f9a30", (string?)null), CommercetoolsMapper.ContextLookup(message));
    }

    [Theory]
    [InlineData("OrderShipmentStateChanged", "shipmentState", "Shipped", "shipment")]
    [InlineData("OrderPaymentStateChanged", "paymentState", "Paid", "payment")]
    public void Map_ShipmentAndPaymentStates_AreStatusEventsOfTheirKind(string type, string field, string value, string kind)
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["type"] = type;
        json.Remove("orderState");
        json.Remove("oldOrderState");
        json[field] = value;

        var status = TestOptions.Single<OrderStatusChanged>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), Order01));
        var attributes = JsonNode.Parse(TestOptions.Built(status).Json)!["events"]![0]!["data"]!["custom_attributes"]!;

        Assert.Equal(kind, (string?)attributes["status_type"]);
        Assert.Equal(value, (string?)attributes["status"]);
    }

    [Fact]
    public void Map_OrderCustomerSetOnAGuestOrder_LinksAnonymousIdAndCustomer()
    {
        var guest = GuestOrder();

        var linked = TestOptions.Single<OrderCustomerLinked>(TestOptions.Mapper().Map(CustomerSet(guest, "new-customer-1", 2), guest));
        var identities = JsonNode.Parse(TestOptions.Built(linked).Json)!["user_identities"]!;

        Assert.Equal("new-customer-1", (string?)identities["customer_id"]);
        Assert.Equal("c0f7e3a1-5b9d-4c82-8e46-2a1d9f7b3c58", (string?)identities["other"]);
        Assert.Equal("tom.baker@example.co.uk", (string?)identities["email"]);
    }

    [Fact]
    public void Map_OrderCustomerSet_LeavesTheOrdersContextWithTheCustomer_AsOfTheMessagesOrderVersion()
    {
        var guest = GuestOrder();

        var context = Assert.IsType<Mapped>(TestOptions.Mapper().Map(CustomerSet(guest, "new-customer-1", 7), guest)).OrderContext;

        Assert.Equal(guest with { User = guest.User with { CustomerId = "new-customer-1" }, Version = 7 }, context);
        // A version below 1 did not come from commercetools: unknown, as a store takes 0 (SQLite and Azure alike).
        Assert.Equal(0, Assert.IsType<Mapped>(TestOptions.Mapper().Map(CustomerSet(guest, "new-customer-1", -5), guest)).OrderContext!.Version);
    }

    private static OrderContext GuestOrder() =>
        Assert.IsType<Mapped>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.OrderCreatedGuest))).OrderContext!;

    private static CtMessage CustomerSet(OrderContext order, string customerId, long orderVersion)
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["type"] = "OrderCustomerSet";
        json["resource"]!["id"] = order.OrderId;
        json["resourceVersion"] = orderVersion;
        json["customer"] = new JsonObject { ["typeId"] = "customer", ["id"] = customerId };
        return Samples.Decode<CtMessage>(Samples.Bytes(json));
    }

    [Fact]
    public void Map_OrderCustomerRemoved_IsFiltered_AndLeavesTheOrdersContextWithoutTheCustomer_AsOfTheMessagesOrderVersion()
    {
        var json = Samples.Json(Samples.OrderStateChanged);
        json["type"] = "OrderCustomerSet";
        json["resource"]!["id"] = Order01.OrderId;
        json["resourceVersion"] = 9;
        Assert.NotNull(Order01.User.CustomerId);

        var result = Assert.IsType<MappingFiltered>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json)), Order01));

        Assert.Equal(Reason.CustomerRemovedFromOrder, result.Reason);
        // The guest's e-mail and anonymous id stay, as on the order itself: only the customer is gone.
        Assert.Equal(Order01 with { User = Order01.User with { CustomerId = null }, Version = 9 }, result.OrderContext! with { PaymentIds = Order01.PaymentIds, Lines = Order01.Lines });
        Assert.Equal(Order01.User.Email, result.OrderContext!.User.Email);
    }

    [Fact]
    public void Map_OrderCustomerRemoved_FromAnOrderWhoseContextIsNotStored_NeedsTheOrder_AsACustomerSetDoes()
    {
        // Filtered without it, a late OrderCreated would bring the removed customer back to the order's follow-ups.
        var json = Samples.Json(Samples.OrderStateChanged);
        json["type"] = "OrderCustomerSet";

        var result = Assert.IsType<MappingNeedsContext>(TestOptions.Mapper().Map(Samples.Decode<CtMessage>(Samples.Bytes(json))));

        Assert.Equal(Reason.OrderContextMissing, result.Reason);
    }

    [Fact]
    public void Map_CartChangeNotification_IsFilteredWithAReason()
    {
        var result = Assert.IsType<MappingFiltered>(TestOptions.Mapper().Map(Samples.Decode<CtDelivery>(Samples.CartChange)));

        Assert.Equal(Reason.ChangeNotificationNotTracked, result.Reason);
        Assert.Contains("storefront collector", result.Detail, StringComparison.Ordinal);
    }
}
