// The demo shop: a product list, a product page, a cart, three checkout steps, sign-in and a consent banner, each
// click a call of the first-party tracker (ctmp.mjs) to this relay's collector. Products are the bundled sample
// (products.json); the cart lives in localStorage. Names follow the tracking plan (config/plans, v3).
import { createTracker } from "./ctmp.mjs";

const CONSENT = "demo_consent";
const CART = "demo_cart";

const config = await (await fetch("config.json", { cache: "no-store" })).json();
// The commercetools project's products when ctmp serve has one configured, else the bundled sample.
const products = await (await fetch("products.json", { cache: "no-store" })).json();
const CURRENCY = products[0]?.currency ?? "EUR";
const stored = readJson(CONSENT);
const tracker = createTracker({
  writeKey: config.writeKey,
  requireConsent: true, // nothing leaves the page before the shopper has chosen
  consent: () => readJson(CONSENT) ?? undefined,
  flushIntervalMs: 300,
});

const view = document.getElementById("view");
const banner = document.getElementById("consent");
banner.hidden = stored !== null;
document.getElementById("consent-accept").onclick = () => choose({ analytics: true, advertising: false });
document.getElementById("consent-refuse").onclick = () => choose({ analytics: false, advertising: false });
document.getElementById("consent-change").onclick = () => { banner.hidden = false; };
document.getElementById("signout").onclick = () => {
  tracker.track("Signed Out");
  tracker.reset(); // a new anonymous id: the next shopper on this browser is someone else
  localStorage.removeItem(CART);
  render();
};
window.addEventListener("hashchange", render);
render();

function choose(categories) {
  localStorage.setItem(CONSENT, JSON.stringify(categories));
  tracker.setConsent(categories);
  banner.hidden = true;
  status(categories.analytics ? "analytics accepted" : "analytics refused: nothing is sent");
}

/** The header's cart count and sign-in state; no call (a view is tracked only when a page is shown). */
function updateNav() {
  document.getElementById("cart-count").textContent = String(cart().reduce((n, l) => n + l.quantity, 0));
  document.getElementById("signout").hidden = !tracker.userId();
  document.getElementById("nav-signin").hidden = Boolean(tracker.userId());
}

function render() {
  const [, route = "", arg] = location.hash.split("/");
  updateNav();
  switch (route) {
    case "product": return productPage(products.find((p) => p.sku === decodeURIComponent(arg ?? "")) ?? products[0]);
    case "cart": return cartPage();
    case "checkout": return checkoutPage(Number(arg) || 1);
    case "signin": return signInPage();
    case "done": return donePage(arg);
    default: return listPage();
  }
}

function listPage() {
  tracker.page("Product List");
  tracker.track("Product List Viewed", {
    list_id: "all-products",
    category: "All",
    currency: CURRENCY,
    products: products.map((p, i) => ({ ...line(p), position: i + 1 })),
  });
  view.innerHTML = `<h1>Products</h1><div class="grid">${products.map((p) => `
    <div class="card"><a href="#/product/${encodeURIComponent(p.sku)}" data-sku="${p.sku}">
      ${swatch(p)}<h3>${p.name}</h3><p>${money(p.price)}</p></a></div>`).join("")}</div>`;
}

function productPage(product) {
  tracker.page("Product", { path: location.pathname });
  tracker.track("Product Viewed", { ...line(product), currency: CURRENCY });
  view.innerHTML = `<div class="card">${swatch(product)}<h1>${product.name}</h1>
    <p>${[product.brand, product.category].filter(Boolean).join(" · ")}</p><p>${money(product.price)}</p>
    <button class="primary" id="add">Add to cart</button> <a href="#/">Back to products</a></div>`;
  document.getElementById("add").onclick = () => {
    const lines = cart();
    const existing = lines.find((l) => l.sku === product.sku);
    if (existing) existing.quantity += 1; else lines.push({ sku: product.sku, quantity: 1 });
    saveCart(lines);
    tracker.track("Product Added", { ...line(product), quantity: 1, currency: CURRENCY, cart_id: cartId() });
    status(`${product.name} added to the cart`);
    updateNav();
  };
}

function cartPage() {
  tracker.page("Cart");
  const lines = cart();
  tracker.track("Cart Viewed", { cart_id: cartId(), value: total(lines), currency: CURRENCY });
  view.innerHTML = `<h1>Cart</h1>${lines.length === 0 ? "<p>Your cart is empty.</p>" : `<table>
    ${lines.map((l) => `<tr><td>${find(l.sku).name}</td><td>${l.quantity}</td><td>${money(find(l.sku).price * l.quantity)}</td>
      <td><button class="secondary" data-remove="${l.sku}">Remove</button></td></tr>`).join("")}
    <tr><th>Total</th><th></th><th>${money(total(lines))}</th><th></th></tr></table>
    <p><button class="primary" id="checkout">Checkout</button></p>`}`;
  view.querySelectorAll("[data-remove]").forEach((button) => {
    button.onclick = () => {
      const product = find(button.dataset.remove);
      const removed = cart().find((l) => l.sku === product.sku);
      saveCart(cart().filter((l) => l.sku !== product.sku));
      tracker.track("Product Removed", { ...line(product), quantity: removed?.quantity ?? 1, currency: CURRENCY, cart_id: cartId() });
      render();
    };
  });
  const checkout = document.getElementById("checkout");
  if (checkout) checkout.onclick = () => { location.hash = "#/checkout/1"; };
}

function checkoutPage(step) {
  tracker.page("Checkout");
  const lines = cart();
  if (step === 1) {
    tracker.track("Checkout Started", { checkout_id: cartId(), currency: CURRENCY, products: lines.map((l) => ({ ...line(find(l.sku)), quantity: l.quantity })) });
    view.innerHTML = `<h1>Checkout · address</h1><label>Name <input id="name" value="Demo Shopper"></label>
      <button class="primary" id="next">Continue to shipping</button>`;
    document.getElementById("next").onclick = () => { location.hash = "#/checkout/2"; };
  } else if (step === 2) {
    view.innerHTML = `<h1>Checkout · shipping</h1><label><input type="radio" name="ship" value="standard" checked> Standard</label>
      <label><input type="radio" name="ship" value="express"> Express</label><button class="primary" id="next">Continue to payment</button>`;
    document.getElementById("next").onclick = () => {
      const method = view.querySelector("input[name=ship]:checked").value;
      tracker.track("Checkout Step Viewed", { step: 2, shipping_method: method, currency: CURRENCY });
      location.hash = "#/checkout/3";
    };
  } else {
    view.innerHTML = `<h1>Checkout · payment</h1><label><input type="radio" name="pay" value="card" checked> Card</label>
      <button class="primary" id="place">Place order</button>`;
    document.getElementById("place").onclick = () => {
      tracker.track("Payment Info Entered", { step: 3, payment_method: view.querySelector("input[name=pay]:checked").value, currency: CURRENCY });
      const orderId = `demo-${tracker.anonymousId().slice(0, 8)}-${Date.now()}`;
      const value = total(lines);
      const shipping = 4.9;
      tracker.track("Order Completed", {
        order_id: orderId,
        total: round(value + shipping),
        tax: round(value - value / 1.19),
        shipping,
        currency: CURRENCY,
        products: lines.map((l) => ({ ...line(find(l.sku)), quantity: l.quantity })),
      });
      saveCart([]);
      location.hash = `#/done/${encodeURIComponent(orderId)}`;
    };
  }
}

function signInPage() {
  tracker.page("Sign In");
  view.innerHTML = `<h1>Sign in</h1><label>E-mail <input id="email" type="email" value="shopper@shop.example"></label>
    <button class="primary" id="signin">Sign in</button>`;
  document.getElementById("signin").onclick = async () => {
    const email = document.getElementById("email").value.trim().toLowerCase();
    const userId = `demo-customer-${await digest(email)}`; // a stable id per address, as a shop's customer id would be
    tracker.identify(userId, { email });
    tracker.track("Signed In", { method: "password" });
    status("signed in");
    location.hash = "#/";
  };
}

function donePage(orderId) {
  tracker.page("Order Confirmation");
  view.innerHTML = `<h1>Thank you!</h1><p>Order <code id="order-id">${decodeURIComponent(orderId ?? "")}</code> is placed.</p><a href="#/">Continue shopping</a>`;
}

/** A colour swatch with the product's initials (no image or emoji font needed). */
function swatch(p) {
  const initials = p.name.split(" ").map((w) => w[0]).join("").slice(0, 2).toUpperCase();
  const palette = ["#4f7cac", "#c8a165", "#6b8f71", "#1f3a5f", "#b22d2d", "#6b4f3a"];
  const colour = p.color ?? palette[[...p.sku].reduce((h, c) => h + c.charCodeAt(0), 0) % palette.length];
  return `<div class="icon" style="background:${colour}">${initials}</div>`;
}

function line(p) {
  return { product_id: p.product_id, sku: p.sku, name: p.name, brand: p.brand, category: p.category, price: p.price };
}

function find(sku) {
  return products.find((p) => p.sku === sku);
}

function cart() {
  return readJson(CART) ?? [];
}

function saveCart(lines) {
  localStorage.setItem(CART, JSON.stringify(lines));
}

function cartId() {
  let id = localStorage.getItem("demo_cart_id");
  if (!id) {
    id = crypto.randomUUID ? crypto.randomUUID() : String(Date.now());
    localStorage.setItem("demo_cart_id", id);
  }
  return id;
}

function total(lines) {
  return round(lines.reduce((sum, l) => sum + find(l.sku).price * l.quantity, 0));
}

function round(value) {
  return Math.round(value * 100) / 100;
}

function money(value) {
  return new Intl.NumberFormat("en-IE", { style: "currency", currency: CURRENCY }).format(value);
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function status(text) {
  document.getElementById("status").textContent = text;
}

async function digest(text) {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(bytes.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}
