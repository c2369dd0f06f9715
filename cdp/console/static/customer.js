// Customer 360: find a profile by any identifier; traits, identifiers, merges, consent,
// segments and the timeline, paged with the API's cursor.
import { ApiError, api } from "./api.js";
import { h, json, table, when } from "./dom.js";

const PAGE = 50;

// What a bare search term may be, most specific first.
export function candidates(term) {
  const text = term.trim();
  const colon = text.indexOf(":");
  if (colon > 0 && /^[a-z_][a-z0-9_]*$/i.test(text.slice(0, colon))) return [text];
  if (text.includes("@")) return [`email:${text}`, `user_id:${text}`];
  const refs = [`user_id:${text}`, `anonymous_id:${text}`];
  if (/^\+?[0-9 ()-]{6,}$/.test(text)) refs.push(`phone:${text}`);
  if (/^[0-9]+$/.test(text)) refs.push(`profile_id:${text}`);
  return refs;
}

const path = (ref, sub = "") => `/v1/profiles/${encodeURIComponent(ref)}${sub}`;

async function resolve(term) {
  for (const ref of candidates(term)) {
    try {
      return { ref, profile: await api(path(ref)) };
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  return null;
}

export function render(page, params) {
  const input = h("input", { id: "customer-search", name: "q", placeholder: "email, userId, anonymousId, phone or type:value", value: params || "" });
  const result = h("div", { id: "customer" });
  const form = h(
    "form",
    {
      class: "search",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/customer/${encodeURIComponent(input.value.trim())}`;
      },
    },
    input,
    h("button", { type: "submit", class: "primary" }, "Search"),
  );
  page.replaceChildren(h("h1", {}, "Customer 360"), form, result);
  if (params) return show(result, params);
  return undefined;
}

async function show(result, term) {
  result.replaceChildren(h("p", { class: "muted" }, "searching…"));
  const found = await resolve(term);
  if (!found) {
    result.replaceChildren(h("p", { class: "error", id: "not-found" }, `no profile has ${term}`));
    return;
  }
  const id = `profile_id:${found.profile.profile_id}`;
  const timeline = h("div", { id: "timeline" });
  const firstPage = fetchPage(id, null);
  firstPage.catch(() => {});
  const [merges, segments] = await Promise.all([api(path(id, "/merges")), api(path(id, "/segments"))]);
  const p = found.profile;
  const consent = (p.computed || {}).consent || {};
  result.replaceChildren(
    h("h2", {}, `Profile ${p.profile_id}`, h("span", { class: "muted" }, ` · created ${when(p.created_at)} · updated ${when(p.updated_at)} · ${p.merge_count} merges`)),
    h(
      "div",
      { class: "grid2" },
      h("div", {}, h("h2", {}, "Traits"), json(p.traits), h("h2", {}, "Computed"), json(withoutConsent(p.computed))),
      h(
        "div",
        {},
        h("h2", {}, "Identifiers"),
        table(
          [
            { label: "type", cell: (r) => r.type },
            { label: "value", cell: (r) => r.value },
            { label: "last seen", cell: (r) => when(r.last_seen) },
          ],
          p.identifiers,
        ),
        h("h2", {}, "Segments"),
        segments.segments.length
          ? h("div", { id: "segments" }, segments.segments.map((s) => h("span", { class: "tag", title: `since ${when(s.since)}` }, s.name || s.slug)))
          : h("p", { class: "muted" }, "in no segment"),
        h("h2", {}, "Consent"),
        table(
          [
            { label: "purpose", cell: (r) => r[0] },
            { label: "granted", cell: (r) => (r[1] && r[1].granted ? "yes" : "no") },
            { label: "details", cell: (r) => JSON.stringify(r[1]) },
          ],
          Object.entries(consent),
          "no consent recorded",
        ),
        h("h2", {}, "Merges"),
        table(
          [
            { label: "from", cell: (r) => r.from_profile },
            { label: "into", cell: (r) => r.into_profile },
            { label: "reason", cell: (r) => r.reason },
            { label: "when", cell: (r) => when(r.merged_at) },
          ],
          merges.merges,
          "never merged",
        ),
      ),
    ),
    h("h2", {}, "Timeline"),
    timeline,
  );
  await loadTimeline(timeline, id, null, firstPage);
}

function withoutConsent(computed) {
  const { consent, ...rest } = computed || {};
  return rest;
}

function fetchPage(id, cursor) {
  const query = `?limit=${PAGE}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");
  return api(path(id, "/events") + query);
}

// Appends one page of the timeline (fetched already when `pending` is given) and a button for the next.
async function loadTimeline(timeline, id, cursor, pending = null) {
  const page = await (pending || fetchPage(id, cursor));
  timeline.querySelector(".more")?.remove();
  let body = timeline.querySelector("tbody");
  if (!body) {
    body = h("tbody");
    timeline.append(
      h("table", {}, h("thead", {}, h("tr", {}, ["time", "type", "event", "properties"].map((c) => h("th", {}, c)))), body),
    );
  }
  for (const e of page.events) {
    body.append(
      h(
        "tr",
        { class: "event" },
        h("td", {}, when(e.timestamp)),
        h("td", {}, e.type),
        h("td", {}, e.name || ""),
        h("td", {}, h("details", {}, h("summary", {}, summary(e.properties)), h("pre", {}, JSON.stringify({ properties: e.properties, context: e.context }, null, 2)))),
      ),
    );
  }
  if (!page.events.length && !cursor) timeline.append(h("p", { class: "muted" }, "no events"));
  if (page.next_cursor) {
    timeline.append(h("button", { type: "button", class: "more", onclick: () => loadTimeline(timeline, id, page.next_cursor) }, "Older events"));
  }
  timeline.dataset.rendered = String(timeline.querySelectorAll("tr.event").length);
  performance.mark("cdp:timeline-rendered");
}

function summary(properties) {
  const text = JSON.stringify(properties || {});
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
