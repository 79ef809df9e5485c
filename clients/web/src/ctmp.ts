// CtMparticle's first-party web tracker: the Segment-compatible calls (track, page, identify, alias, reset) sent to
// the relay's collector at /v1/batch. Dependency-free. Delivery is at least once: every call carries a UUID v4
// messageId, so the collector drops a retried or re-sent copy; nothing is dropped by the tracker except what the
// shopper's consent refuses and, past maxQueue, the oldest calls (counted in stats().dropped).

/** The CMP's categories and the shopper's choice, as Segment's context.consent.categoryPreferences carries them. */
export type Categories = Record<string, boolean>;

export interface TrackerOptions {
  /** The collector source's write key (public by design, like Segment's). */
  writeKey: string;
  /** The collector's base URL; default: this page's origin. */
  host?: string;
  /** Cookie domain for the anonymous id (".shop.example" to share it with subdomains); default: this host only. */
  cookieDomain?: string;
  /** Lifetime of the anonymous id cookie, in days; default 365. */
  cookieDays?: number;
  /** A new session starts after this many minutes without a call; default 30. */
  sessionTimeoutMinutes?: number;
  /** Send when this many calls are queued; default 20. */
  flushAt?: number;
  /** Otherwise send this long after the first queued call, in milliseconds; default 1000. */
  flushIntervalMs?: number;
  /** Calls kept at most (memory and localStorage); the oldest go first; default 1000. */
  maxQueue?: number;
  /** Hold every call until the site states consent (setConsent or the consent callback); default false. */
  requireConsent?: boolean;
  /** The category that must be true for anything to be sent once consent is known; default "analytics". */
  requiredCategory?: string;
  /** The site's CMP: the current choices, or undefined while the shopper has not chosen. */
  consent?: () => Categories | undefined;
  /** Test seams: the environment (default: the browser's). */
  env?: Partial<Environment>;
}

/** What the tracker needs from its surroundings; a browser gives all of it. */
export interface Environment {
  fetch: typeof fetch;
  sendBeacon: ((url: string, body: Blob | string) => boolean) | undefined;
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | undefined;
  cookies: { get(): string; set(cookie: string): void } | undefined;
  now: () => number;
  uuid: () => string;
  setTimeout: (f: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
  origin: string;
  page: () => { path: string; url: string; title: string; referrer: string; search: string };
  userAgent: string;
  locale: string;
  onPageHide: ((f: () => void) => void) | undefined;
  onOnline: ((f: () => void) => void) | undefined;
}

/** One call as the collector takes it (Segment's HTTP Tracking API). */
export interface Call {
  type: "track" | "page" | "identify" | "alias";
  messageId: string;
  timestamp: string;
  anonymousId: string;
  userId?: string;
  previousId?: string;
  event?: string;
  name?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context: Record<string, unknown>;
}

export interface Stats {
  queued: number;
  held: number;
  sent: number;
  dropped: number;
  refused: number;
  retries: number;
}

const LIBRARY = { name: "ctmp-web", version: "1.0.0" };
const KEYS = { anonymousId: "ctmp_aid", userId: "ctmp_uid", session: "ctmp_session", queue: "ctmp_queue" };
/** The most one request carries: the collector's batch limit is larger, and keepalive/beacon bodies stop at 64 KiB. */
const MAX_BODY_BYTES = 60_000;

export function createTracker(options: TrackerOptions): Tracker {
  return new Tracker(options, { ...browser(), ...options.env });
}

export class Tracker {
  private readonly env: Environment;
  private readonly options: Required<Omit<TrackerOptions, "env" | "consent" | "cookieDomain" | "host">> & Pick<TrackerOptions, "consent" | "cookieDomain">;
  private readonly endpoint: string;
  private queue: Call[];
  /** Calls made before consent was known (requireConsent): in memory only, sent or discarded once it is. */
  private held: Call[] = [];
  private categories: Categories | undefined;
  private timer: unknown;
  private sending = false;
  private backoffMs = 0;
  private notBefore = 0;
  private readonly counters: Stats = { queued: 0, held: 0, sent: 0, dropped: 0, refused: 0, retries: 0 };

  constructor(options: TrackerOptions, env: Environment) {
    if (!options || typeof options.writeKey !== "string" || options.writeKey.length === 0) {
      throw new Error("ctmp: writeKey is required (the collector source's write key).");
    }

    this.env = env;
    this.options = {
      writeKey: options.writeKey,
      cookieDomain: options.cookieDomain,
      cookieDays: options.cookieDays ?? 365,
      sessionTimeoutMinutes: options.sessionTimeoutMinutes ?? 30,
      flushAt: options.flushAt ?? 20,
      flushIntervalMs: options.flushIntervalMs ?? 1000,
      maxQueue: options.maxQueue ?? 1000,
      requireConsent: options.requireConsent ?? false,
      requiredCategory: options.requiredCategory ?? "analytics",
      consent: options.consent,
    };
    this.endpoint = `${(options.host ?? env.origin).replace(/\/+$/, "")}/v1/batch`;
    this.queue = this.load();
    this.categories = options.consent?.();
    env.onPageHide?.(() => this.flushOnHide());
    env.onOnline?.(() => {
      this.notBefore = 0;
      this.schedule(0);
    });
    if (this.queue.length > 0) {
      this.schedule(0); // calls a previous page left behind (closed, offline): sent again, deduplicated by messageId
    }
  }

  /** The shopper's anonymous id: first-party cookie, else localStorage, else a new UUID v4 (kept in both). */
  anonymousId(): string {
    const fromCookie = this.readCookie(KEYS.anonymousId);
    const id = fromCookie ?? this.env.storage?.getItem(KEYS.anonymousId) ?? this.env.uuid();
    this.persistAnonymousId(id);
    return id;
  }

  userId(): string | undefined {
    return this.env.storage?.getItem(KEYS.userId) ?? undefined;
  }

  stats(): Stats {
    return { ...this.counters, queued: this.queue.length, held: this.held.length };
  }

  track(event: string, properties: Record<string, unknown> = {}): void {
    if (typeof event !== "string" || event.length === 0) {
      throw new Error("ctmp: track needs an event name.");
    }

    this.enqueue({ ...this.base("track"), event, properties });
  }

  page(name?: string, properties: Record<string, unknown> = {}): void {
    const page = this.env.page();
    this.enqueue({ ...this.base("page"), ...(name ? { name } : {}), properties: { ...page, ...properties } });
  }

  /** Who the shopper is: the user id is kept for later calls (until reset), traits go with this call. */
  identify(userId?: string, traits: Record<string, unknown> = {}): void {
    if (userId) {
      this.env.storage?.setItem(KEYS.userId, userId);
    }

    this.enqueue({ ...this.base("identify"), traits });
  }

  /** This browser's anonymous id (or previousId) and userId are one person. */
  alias(userId: string, previousId?: string): void {
    this.env.storage?.setItem(KEYS.userId, userId);
    this.enqueue({ ...this.base("alias"), userId, previousId: previousId ?? this.anonymousId() });
  }

  /** Sign-out: forgets the user id, starts a new anonymous id and session (queued calls keep the ids they had). */
  reset(): void {
    this.env.storage?.removeItem(KEYS.userId);
    this.env.storage?.removeItem(KEYS.session);
    this.persistAnonymousId(this.env.uuid());
  }

  /**
   * The shopper's choice from the site's CMP. Calls held while it was unknown are sent (or discarded, when the
   * required category is refused), and a change is itself sent as Segment's consent event, so the relay learns a
   * withdrawal; a first refusal sends nothing at all, and the same choice stated again sends nothing new.
   */
  setConsent(categories: Categories): void {
    const before = this.categories;
    this.categories = { ...categories };
    const allowed = this.allowed();
    const held = this.held;
    this.held = [];
    for (const call of held) {
      if (allowed) {
        this.push({ ...call, context: { ...call.context, consent: { categoryPreferences: { ...this.categories } } } });
      } else {
        this.counters.refused++;
      }
    }

    const changed = before === undefined || canonical(before) !== canonical(this.categories);
    if (changed && (allowed || before?.[this.options.requiredCategory] === true)) {
      this.push({ ...this.base("track"), event: "Segment Consent Preference Updated", properties: {} });
    }
  }

  /** Sends what is queued now (resolves when the collector answered or the attempt failed). */
  async flush(): Promise<void> {
    if (this.sending || this.queue.length === 0 || this.env.now() < this.notBefore) {
      return;
    }

    this.sending = true;
    const batch = this.take(this.queue);
    try {
      const response = await this.env.fetch(this.endpoint, {
        method: "POST",
        // text/plain with the key in the body: a "simple" request, so no CORS preflight; the collector reads any type.
        headers: { "Content-Type": "text/plain" },
        body: this.body(batch),
        keepalive: true,
        credentials: "omit",
      });
      if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429)) {
        // Accepted, or refused for its content (a retry would be refused again; the relay quarantined and logged it).
        this.remove(batch);
        this.counters.sent += batch.length;
        this.backoffMs = 0;
        if (this.queue.length > 0) {
          this.schedule(0);
        }
      } else {
        this.retryLater(retryAfterMs(response.headers.get("Retry-After"), this.env.now()));
      }
    } catch {
      this.retryLater(undefined); // offline, reset, blocked: kept, tried again (and when the browser is back online)
    } finally {
      this.sending = false;
    }
  }

  private base(type: Call["type"]): Call {
    const userId = this.userId();
    const context: Record<string, unknown> = {
      library: LIBRARY,
      page: this.env.page(),
      userAgent: this.env.userAgent,
      locale: this.env.locale,
      sessionId: this.session(),
    };
    if (this.categories) {
      context.consent = { categoryPreferences: { ...this.categories } };
    }

    return {
      type,
      messageId: this.env.uuid(),
      timestamp: new Date(this.env.now()).toISOString(),
      anonymousId: this.anonymousId(),
      ...(userId ? { userId } : {}),
      context,
    };
  }

  private enqueue(call: Call): void {
    this.categories = this.categories ?? this.options.consent?.();
    if (this.categories === undefined && this.options.requireConsent) {
      this.held.push(call);
      return;
    }

    if (this.categories !== undefined && !this.allowed()) {
      this.counters.refused++;
      return;
    }

    this.push(call);
  }

  private push(call: Call): void {
    this.queue.push(call);
    while (this.queue.length > this.options.maxQueue) {
      this.queue.shift();
      this.counters.dropped++;
    }

    this.save();
    this.schedule(this.queue.length >= this.options.flushAt ? 0 : this.options.flushIntervalMs);
  }

  private allowed(): boolean {
    return this.categories?.[this.options.requiredCategory] === true;
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) {
      if (ms > 0) {
        return; // one is due already
      }

      this.env.clearTimeout(this.timer);
    }

    const wait = Math.max(ms, this.notBefore - this.env.now(), 0);
    this.timer = this.env.setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, wait);
  }

  private retryLater(retryAfter: number | undefined): void {
    this.counters.retries++;
    this.backoffMs = Math.min(this.backoffMs === 0 ? 1000 : this.backoffMs * 2, 60_000);
    const wait = Math.max(retryAfter ?? 0, this.backoffMs);
    this.notBefore = this.env.now() + wait;
    this.schedule(wait);
  }

  /** The page is going away: what is queued goes by beacon (or keepalive fetch) and stays queued until a 2xx is seen. */
  private flushOnHide(): void {
    if (this.queue.length === 0) {
      return;
    }

    const batch = this.take(this.queue);
    const body = this.body(batch);
    const beaconed = this.env.sendBeacon?.(this.endpoint, new Blob([body], { type: "text/plain" })) ?? false;
    if (!beaconed) {
      void this.env.fetch(this.endpoint, { method: "POST", headers: { "Content-Type": "text/plain" }, body, keepalive: true, credentials: "omit" }).catch(() => undefined);
    }
  }

  /** The oldest calls that fit one request. */
  private take(queue: Call[]): Call[] {
    const batch: Call[] = [];
    let size = 200;
    for (const call of queue) {
      const length = JSON.stringify(call).length + 1;
      if (batch.length > 0 && size + length > MAX_BODY_BYTES) {
        break;
      }

      batch.push(call);
      size += length;
    }

    return batch;
  }

  private body(batch: Call[]): string {
    return JSON.stringify({ batch, writeKey: this.options.writeKey, sentAt: new Date(this.env.now()).toISOString() });
  }

  private remove(batch: Call[]): void {
    const sent = new Set(batch.map((c) => c.messageId));
    this.queue = this.queue.filter((c) => !sent.has(c.messageId));
    this.save();
  }

  private session(): string {
    const now = this.env.now();
    const timeout = this.options.sessionTimeoutMinutes * 60_000;
    let session: { id: string; last: number } | undefined;
    try {
      session = JSON.parse(this.env.storage?.getItem(KEYS.session) ?? "null") ?? undefined;
    } catch {
      session = undefined;
    }

    const id = session && typeof session.id === "string" && now - session.last < timeout ? session.id : this.env.uuid();
    this.env.storage?.setItem(KEYS.session, JSON.stringify({ id, last: now }));
    return id;
  }

  private persistAnonymousId(id: string): void {
    this.env.storage?.setItem(KEYS.anonymousId, id);
    if (this.env.cookies) {
      const domain = this.options.cookieDomain ? `; domain=${this.options.cookieDomain}` : "";
      const secure = this.env.origin.startsWith("https:") ? "; Secure" : "";
      this.env.cookies.set(`${KEYS.anonymousId}=${encodeURIComponent(id)}; path=/; max-age=${this.options.cookieDays * 86_400}; SameSite=Lax${domain}${secure}`);
    }
  }

  private readCookie(name: string): string | undefined {
    const cookies = this.env.cookies?.get() ?? "";
    for (const part of cookies.split(";")) {
      const [key, ...value] = part.trim().split("=");
      if (key === name && value.length > 0) {
        const decoded = decodeURIComponent(value.join("="));
        return decoded.length > 0 ? decoded : undefined;
      }
    }

    return undefined;
  }

  private load(): Call[] {
    try {
      const stored = JSON.parse(this.env.storage?.getItem(KEYS.queue) ?? "[]");
      return Array.isArray(stored) ? stored.filter((c) => c && typeof c.messageId === "string") : [];
    } catch {
      return []; // unreadable (another script wrote it): started afresh
    }
  }

  private save(): void {
    try {
      this.env.storage?.setItem(KEYS.queue, JSON.stringify(this.queue));
    } catch {
      // Storage full or refused (private mode): the queue lives in memory for this page.
    }
  }
}

function canonical(categories: Categories): string {
  return JSON.stringify(Object.keys(categories).sort().map((k) => [k, categories[k]]));
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) {
    return undefined;
  }

  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) {
    return Math.min(seconds * 1000, 3_600_000);
  }

  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(date - now, 0), 3_600_000);
}

/** The browser's side of Environment (everything optional that a page may lack: storage, cookies, beacons). */
function browser(): Environment {
  const g = globalThis as unknown as Window & typeof globalThis;
  let storage: Environment["storage"];
  try {
    storage = g.localStorage;
  } catch {
    storage = undefined; // blocked (sandboxed frame, privacy settings)
  }

  return {
    fetch: (input, init) => g.fetch(input, init),
    sendBeacon: typeof g.navigator?.sendBeacon === "function" ? (url, body) => g.navigator.sendBeacon(url, body) : undefined,
    storage,
    cookies: typeof g.document !== "undefined" ? { get: () => g.document.cookie, set: (c) => { g.document.cookie = c; } } : undefined,
    now: () => Date.now(),
    uuid: () => (typeof g.crypto?.randomUUID === "function" ? g.crypto.randomUUID() : uuidV4(g.crypto)),
    setTimeout: (f, ms) => g.setTimeout(f, ms),
    clearTimeout: (h) => g.clearTimeout(h as number),
    origin: g.location?.origin ?? "",
    page: () => ({
      path: g.location?.pathname ?? "",
      url: g.location?.href ?? "",
      title: g.document?.title ?? "",
      referrer: g.document?.referrer ?? "",
      search: g.location?.search ?? "",
    }),
    userAgent: g.navigator?.userAgent ?? "",
    locale: g.navigator?.language ?? "",
    onPageHide: typeof g.addEventListener === "function"
      ? (f) => {
        g.addEventListener("pagehide", f);
        g.document?.addEventListener("visibilitychange", () => {
          if (g.document.visibilityState === "hidden") {
            f();
          }
        });
      }
      : undefined,
    onOnline: typeof g.addEventListener === "function" ? (f) => g.addEventListener("online", f) : undefined,
  };
}

/** UUID v4 from getRandomValues, for browsers without crypto.randomUUID (non-secure contexts). */
export function uuidV4(crypto: Pick<Crypto, "getRandomValues"> | undefined): string {
  const bytes = new Uint8Array(16);
  if (crypto) {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i++) {
      bytes[i] = Math.floor(Math.random() * 256);
    }
  }

  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
