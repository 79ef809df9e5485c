// The yardstick of issue 17: a plain Node relay on mParticle's official Node SDK (the `mparticle` package), with no
// state, no dedupe, no consent, no plan check and no quarantine. It reads an NDJSON corpus of commercetools
// deliveries, maps what it knows (orders as purchases, customers as identities and attributes, an order's later
// messages as custom events) to one batch per message with the SDK's models, and posts them in bulk requests of 100
// batches through the SDK's EventsApi, several requests in flight, to a local Events API fake. It drops what it cannot
// parse or does not know, silently: the relay the issue compares ctmp with, not one to run.
//
//   node tools/bench/naive-relay.mjs --url http://127.0.0.1:PORT/v2 [--in-flight 8] [--sdk DIR] CORPUS.ndjson
//
// Prints "naive-relay: N inputs in S s (R inputs/s), B batches in Q requests". tools/bench/run.sh runs it beside
// ctmp relay (--naive), so that both are measured on the same machine in the same minutes, and installs the SDK for
// it (`npm install mparticle@1.0.8` into DIR, given as --sdk). Never used by the tests.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv.splice(at, 2)[1] : fallback;
};
// --sdk DIR: a folder whose node_modules holds the SDK (run.sh installs it there, so the repository's own npm ci,
// which CI runs, does not carry an SDK only this yardstick uses).
const sdk = option("sdk");
const url = option("url");
const inFlight = Number(option("in-flight", "8"));
const corpus = argv[0];
if (!url || !corpus || !(inFlight >= 1)) {
  console.error("usage: node tools/bench/naive-relay.mjs --url http://127.0.0.1:PORT/v2 [--in-flight N] [--sdk DIR] CORPUS.ndjson");
  process.exit(2);
}

let mParticle;
try {
  mParticle = createRequire(sdk ? join(resolve(sdk), "package.json") : import.meta.url)("mparticle");
} catch {
  console.error(`naive-relay: mParticle's Node SDK is not installed${sdk ? ` in ${sdk}` : ""}: ` +
    "run `npm install --prefix DIR mparticle@1.0.8` and pass --sdk DIR (tools/bench/run.sh --naive does both)");
  process.exit(2);
}

const client = new mParticle.ApiClient();
client.basePath = url.replace(/\/+$/, "");
const api = new mParticle.EventsApi(new mParticle.Configuration("naive", "naive"), client);
const environment = mParticle.Batch.Environment.production;

const amount = money => money ? money.centAmount / 10 ** money.fractionDigits : undefined;

function identities(customerId, email) {
  const ids = new mParticle.UserIdentities();
  if (customerId) ids.customerid = customerId;
  if (email) ids.email = email;
  return ids;
}

function customEvent(name, at, attributes) {
  const event = new mParticle.AppEvent(mParticle.AppEvent.CustomEventType.other, name);
  event.timestamp_unixtime_ms = Date.parse(at);
  event.custom_attributes = attributes;
  return event;
}

// One batch per message it knows, or null.
function toBatch(message) {
  if (message?.notificationType !== "Message") return null;
  const batch = new mParticle.Batch(environment);
  batch.source_request_id = message.id;
  switch (message.type) {
    case "OrderCreated": {
      const order = message.order;
      const products = (order.lineItems ?? []).map(line => {
        const product = new mParticle.Product(line.variant?.sku ?? line.productId, line.name?.en, amount(line.price?.value));
        product.quantity = line.quantity;
        product.total_product_amount = amount(line.totalPrice);
        return product;
      });
      const action = new mParticle.ProductAction("purchase", order.id, amount(order.totalPrice), products);
      const event = new mParticle.CommerceEvent();
      event.product_action = action;
      event.currency_code = order.totalPrice?.currencyCode;
      event.timestamp_unixtime_ms = Date.parse(order.createdAt);
      batch.user_identities = identities(order.customerId, order.customerEmail);
      batch.addEvent(event);
      return batch;
    }
    case "CustomerCreated":
      batch.user_identities = identities(message.customer?.id, message.customer?.email);
      batch.user_attributes = { $firstname: message.customer?.firstName, $lastname: message.customer?.lastName };
      batch.addEvent(customEvent("sign_up", message.createdAt, {}));
      return batch;
    case "CustomerEmailChanged":
    case "CustomerFirstNameSet":
    case "CustomerCustomFieldChanged":
      batch.user_identities = identities(message.resource?.id, message.email);
      batch.addEvent(customEvent("profile_updated", message.createdAt, { change: message.type }));
      return batch;
    case "OrderStateChanged":
    case "OrderShipmentStateChanged":
    case "ReturnInfoAdded":
    case "PaymentTransactionAdded":
      batch.user_identities = identities(undefined, undefined);
      batch.addEvent(customEvent(message.type, message.createdAt, { order_id: message.resource?.id }));
      return batch;
    default:
      return null;
  }
}

let inputs = 0;
let batches = 0;
let requests = 0;
let failed = 0;
const started = process.hrtime.bigint();
const sending = new Set();

function send(bulk) {
  const done = new Promise(resolve => api.bulkUploadEvents(bulk, error => {
    requests++;
    if (error) failed++;
    resolve();
  }));
  sending.add(done);
  done.then(() => sending.delete(done));
  return done;
}

let bulk = [];
const lines = createInterface({ input: createReadStream(corpus), crlfDelay: Infinity });
for await (const line of lines) {
  inputs++;
  let batch;
  try {
    batch = toBatch(JSON.parse(line));
  } catch {
    continue;
  }

  if (!batch) continue;
  bulk.push(batch);
  batches++;
  if (bulk.length === 100) {
    send(bulk);
    bulk = [];
    if (sending.size >= inFlight) await Promise.race(sending);
  }
}

if (bulk.length > 0) send(bulk);
await Promise.all(sending);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const rate = Math.round(inputs / seconds).toLocaleString("en-US");
console.log(`naive-relay: ${inputs.toLocaleString("en-US")} inputs in ${seconds.toFixed(1)} s (${rate} inputs/s), ` +
  `${batches.toLocaleString("en-US")} batches in ${requests.toLocaleString("en-US")} requests${failed ? `, ${failed} failed` : ""}`);
process.exit(failed ? 1 : 0);
