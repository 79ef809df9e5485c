// Unit tests of the built tracker (dist/ctmp.mjs, what pages load), with a scripted environment: storage, cookies,
// the collector's answers and the clock are the test's. Run: npm run test:web (after npm run build:web).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createTracker, retryAfterMs, uuidV4 } from "../dist/ctmp.mjs";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A page's surroundings: answers are taken from `answers` in order (a status, or "offline"), then 200. */
function environment({ answers = [], cookies = true, storage = new Map(), jar = { value: "" } } = {}) {
  const sent = [];
  const beacons = [];
  const timers = [];
  const hide = [];
  const online = [];
  const clock = { now: Date.parse("2026-12-02T10:00:00Z") };
  let ids = 0;
  const env = {
    fetch: async (url, init) => {
      const answer = answers.length > 0 ? answers.shift() : 200;
      sent.push({ url, init, body: JSON.parse(init.body), answer });
      if (answer === "offline") {
        throw new TypeError("Failed to fetch");
      }

      const status = typeof answer === "number" ? answer : answer.status;
      const headers = new Map(Object.entries(typeof answer === "number" ? {} : answer.headers ?? {}));
      return { ok: status >= 200 && status < 300, status, headers: { get: (name) => headers.get(name) ?? null } };
    },
    sendBeacon: (url, blob) => {
      beacons.push({ url, blob });
      return true;
    },
    storage: { getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, String(v)), removeItem: (k) => storage.delete(k) },
    cookies: cookies ? { get: () => jar.value, set: (c) => { jar.value = c.split(";")[0]; } } : undefined,
    now: () => clock.now,
    uuid: () => uuidV4({ getRandomValues: (bytes) => bytes.fill(++ids % 256) }),
    setTimeout: (f, ms) => {
      const timer = { f, at: clock.now + ms };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (timer) => {
      const i = timers.indexOf(timer);
      if (i >= 0) timers.splice(i, 1);
    },
    origin: "https://shop.example",
    page: () => ({ path: "/p", url: "https://shop.example/p", title: "P", referrer: "", search: "" }),
    userAgent: "test-agent",
    locale: "de-DE",
    onPageHide: (f) => hide.push(f),
    onOnline: (f) => online.push(f),
  };
  /** Moves the clock and runs the timers that are due, waiting for the sends they start. */
  async function advance(ms) {
    clock.now += ms;
    for (;;) {
      const due = timers.filter((t) => t.at <= clock.now);
      if (due.length === 0) break;
      for (const t of due) {
        timers.splice(timers.indexOf(t), 1);
        t.f();
      }
      await new Promise((r) => setImmediate(r));
    }
  }
  const calls = () => sent.flatMap((s) => s.body.batch);
  return { env, sent, beacons, hide, online, advance, calls, clock, storage, jar };
}

test("the anonymous id is a UUID v4 kept in a first-party cookie and localStorage, and read back from either", () => {
  const page = environment();
  const first = createTracker({ writeKey: "k", env: page.env }).anonymousId();
  assert.match(first, UUID_V4);
  assert.match(page.jar.value, /^ctmp_aid=/);
  assert.equal(createTracker({ writeKey: "k", env: page.env }).anonymousId(), first); // the next page
  const noCookies = environment({ cookies: false, storage: page.storage });
  assert.equal(createTracker({ writeKey: "k", env: noCookies.env }).anonymousId(), first); // localStorage fallback
});

test("calls are batched to /v1/batch as text/plain with the write key in the body, keepalive, each with its own messageId", async () => {
  const page = environment();
  const tracker = createTracker({ writeKey: "wk", env: page.env });
  tracker.page("Home");
  tracker.track("Product Viewed", { sku: "S-1", price: 12.5 });
  tracker.identify("c-1", { email: "a@shop.example" });
  await page.advance(1000);

  assert.equal(page.sent.length, 1);
  const [{ url, init, body }] = page.sent;
  assert.equal(url, "https://shop.example/v1/batch");
  assert.equal(init.headers["Content-Type"], "text/plain");
  assert.equal(init.keepalive, true);
  assert.equal(body.writeKey, "wk");
  assert.deepEqual(body.batch.map((c) => [c.type, c.event ?? c.name ?? null]), [["page", "Home"], ["track", "Product Viewed"], ["identify", null]]);
  assert.equal(new Set(body.batch.map((c) => c.messageId)).size, 3);
  body.batch.forEach((c) => assert.match(c.messageId, UUID_V4));
  assert.equal(body.batch[2].userId, "c-1");
  assert.equal(tracker.stats().queued, 0);
});

test("429 waits for Retry-After and 5xx backs off, and the retry carries the same messageIds", async () => {
  const page = environment({ answers: [{ status: 429, headers: { "Retry-After": "5" } }, 503] });
  const tracker = createTracker({ writeKey: "k", env: page.env });
  tracker.track("Signed In");
  await page.advance(1000);
  await page.advance(4000); // Retry-After not over
  assert.equal(page.sent.length, 1);
  await page.advance(1000);
  assert.equal(page.sent.length, 2); // 503: backs off (2 s now)
  await page.advance(2000);

  assert.equal(page.sent.length, 3);
  assert.equal(new Set(page.calls().map((c) => c.messageId)).size, 1);
  assert.deepEqual(tracker.stats(), { queued: 0, held: 0, sent: 1, dropped: 0, refused: 0, retries: 2 });
});

test("offline: calls stay queued (and survive the page) until the browser is back online", async () => {
  const page = environment({ answers: ["offline", "offline"] });
  const tracker = createTracker({ writeKey: "k", env: page.env });
  tracker.track("Product Added", { sku: "S-1" });
  await page.advance(1000);
  await page.advance(1000);
  assert.equal(tracker.stats().queued, 1);

  const next = environment({ storage: page.storage }); // a new page of the same site, online again
  createTracker({ writeKey: "k", env: next.env });
  await next.advance(0);
  assert.deepEqual(next.calls().map((c) => c.messageId), page.calls().slice(0, 1).map((c) => c.messageId));
});

test("a 400 for the batch's content is not retried", async () => {
  const page = environment({ answers: [400] });
  const tracker = createTracker({ writeKey: "k", env: page.env });
  tracker.track("Broken");
  await page.advance(1000);
  await page.advance(60_000);
  assert.equal(page.sent.length, 1);
  assert.equal(tracker.stats().queued, 0);
});

test("with requireConsent nothing is sent before the choice; a refusal sends nothing at all", async () => {
  const page = environment();
  const tracker = createTracker({ writeKey: "k", requireConsent: true, env: page.env });
  tracker.page("Home");
  tracker.track("Product Viewed");
  await page.advance(5000);
  assert.equal(page.sent.length, 0);
  assert.equal(tracker.stats().held, 2);

  tracker.setConsent({ analytics: false, advertising: false });
  tracker.track("Product Added");
  await page.advance(5000);
  assert.equal(page.sent.length, 0);
  assert.equal(tracker.stats().refused, 3);
});

test("consent given releases the held calls with the CMP's categories; a later withdrawal is itself sent", async () => {
  const page = environment();
  const tracker = createTracker({ writeKey: "k", requireConsent: true, env: page.env });
  tracker.track("Product Viewed");
  tracker.setConsent({ analytics: true, advertising: false });
  tracker.setConsent({ advertising: false, analytics: true }); // the same choice again: nothing new
  tracker.setConsent({ analytics: false });
  tracker.track("Product Added"); // refused now
  await page.advance(1000);

  const calls = page.calls();
  assert.deepEqual(calls.map((c) => c.event), ["Product Viewed", "Segment Consent Preference Updated", "Segment Consent Preference Updated"]);
  assert.deepEqual(calls[0].context.consent.categoryPreferences, { analytics: true, advertising: false });
  assert.deepEqual(calls[2].context.consent.categoryPreferences, { analytics: false });
});

test("a consent callback is read before each call", async () => {
  let choice;
  const page = environment();
  const tracker = createTracker({ writeKey: "k", requireConsent: true, consent: () => choice, env: page.env });
  tracker.track("Before");
  choice = { analytics: true };
  tracker.track("After");
  await page.advance(1000);
  assert.deepEqual(page.calls().map((c) => c.event), ["After"]);
  assert.equal(tracker.stats().held, 1); // "Before" waits for setConsent: the callback only speaks for later calls
});

test("a session ends after the inactivity timeout; reset starts a new anonymous id and forgets the user", async () => {
  const page = environment();
  const tracker = createTracker({ writeKey: "k", sessionTimeoutMinutes: 30, env: page.env });
  tracker.track("A");
  page.clock.now += 29 * 60_000;
  tracker.track("B");
  page.clock.now += 31 * 60_000;
  tracker.track("C");
  tracker.identify("c-1");
  const before = tracker.anonymousId();
  tracker.reset();
  tracker.track("D");
  await page.advance(1000);

  const [a, b, c, , d] = page.calls();
  assert.equal(a.context.sessionId, b.context.sessionId);
  assert.notEqual(b.context.sessionId, c.context.sessionId);
  assert.notEqual(d.anonymousId, before);
  assert.equal(d.userId, undefined);
  assert.notEqual(d.context.sessionId, c.context.sessionId);
});

test("on page hide the queue goes by beacon and stays queued, so a lost beacon is sent again (deduplicated by messageId)", async () => {
  const page = environment();
  const tracker = createTracker({ writeKey: "k", env: page.env });
  tracker.track("Product Added");
  page.hide.forEach((f) => f());

  assert.equal(page.beacons.length, 1);
  const beacon = JSON.parse(await page.beacons[0].blob.text());
  assert.equal(beacon.writeKey, "k");
  assert.equal(beacon.batch[0].event, "Product Added");
  assert.equal(tracker.stats().queued, 1);
});

test("past maxQueue the oldest calls go first, and are counted", () => {
  const page = environment({ answers: ["offline"] });
  const tracker = createTracker({ writeKey: "k", maxQueue: 3, flushAt: 100, env: page.env });
  for (const name of ["1", "2", "3", "4", "5"]) tracker.track(name);
  assert.deepEqual(tracker.stats(), { queued: 3, held: 0, sent: 0, dropped: 2, refused: 0, retries: 0 });
  assert.deepEqual(JSON.parse(page.storage.get("ctmp_queue")).map((c) => c.event), ["3", "4", "5"]);
});

test("a damaged stored queue is started afresh, and a missing write key is refused with what to set", () => {
  const storage = new Map([["ctmp_queue", "{not json"]]);
  const page = environment({ storage });
  assert.equal(createTracker({ writeKey: "k", env: page.env }).stats().queued, 0);
  assert.throws(() => createTracker({ env: page.env }), /writeKey is required/);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-12-02T10:00:00Z");
  assert.equal(retryAfterMs("7", now), 7000);
  assert.equal(retryAfterMs("Wed, 02 Dec 2026 10:00:30 GMT", now), 30_000);
  assert.equal(retryAfterMs("soon", now), undefined);
  assert.equal(retryAfterMs(null, now), undefined);
});
