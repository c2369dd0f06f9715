// The console shell: asks for the API key, then routes #/page/param to a page module.
import { apiKey, forgetApiKey, setApiKey, Unauthorized, api } from "./api.js";
import { h } from "./dom.js";
import * as customer from "./customer.js";
import * as dlq from "./dlq.js";
import * as health from "./health.js";
import * as segments from "./segments.js";

const PAGES = { health, dlq, customer, segments };
let cleanup = null;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES[name] ? name : "health";
  return { page, param: rest.length ? decodeURIComponent(rest.join("/")) : "" };
}

function showLogin(message = "") {
  document.getElementById("login").hidden = false;
  document.getElementById("page").replaceChildren();
  document.getElementById("logout").hidden = true;
  document.getElementById("login-error").textContent = message;
}

async function navigate() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  if (!apiKey()) return showLogin();
  document.getElementById("login").hidden = true;
  document.getElementById("logout").hidden = false;
  const { page, param } = route();
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === page);
  const container = document.getElementById("page");
  try {
    const result = PAGES[page].render(container, param);
    if (typeof result === "function") cleanup = result;
    else if (result && typeof result.then === "function") await result;
  } catch (err) {
    if (err instanceof Unauthorized) {
      forgetApiKey();
      return showLogin("That key was refused.");
    }
    container.append(h("p", { class: "error" }, err.message));
  }
  return undefined;
}

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  setApiKey(document.getElementById("api-key").value.trim());
  try {
    await api("/v1/segments");
  } catch (err) {
    if (err instanceof Unauthorized) {
      forgetApiKey();
      return showLogin("That key was refused.");
    }
  }
  return navigate();
});
document.getElementById("logout").addEventListener("click", () => {
  forgetApiKey();
  navigate();
});
window.addEventListener("hashchange", navigate);
window.addEventListener("cdp:unauthorized", () => showLogin("That key was refused."));
navigate();
