// The dead-letter browser: stage, reason and payload of the newest letters; replay one or all.
import { api } from "./api.js";
import { fmt, h, json, table, when } from "./dom.js";

export function render(page) {
  const status = h("p", { class: "muted", role: "status" });
  async function load() {
    const data = await api("/v1/ops/dlq?limit=200");
    page.replaceChildren(
      h("h1", {}, "Dead letters"),
      h(
        "p",
        {},
        `${fmt(data.total)} in cdp.events.dlq; the ${fmt(data.letters.length)} newest are shown. `,
        h("button", { type: "button", onclick: () => replay({ all: true }) }, "Replay all"),
      ),
      status,
      table(
        [
          { label: "failed at", cell: (r) => when(r.failed_at) },
          { label: "stage", cell: (r) => r.stage },
          { label: "reason", cell: (r) => h("span", { title: r.message || "" }, r.reason) },
          { label: "message", cell: (r) => r.message },
          { label: "payload", cell: (r) => h("details", {}, h("summary", {}, r.message_id || `#${r.offset}`), json(r.payload)) },
          {
            label: "",
            cell: (r) => h("button", { type: "button", onclick: () => replay({ partition: r.partition, offset: r.offset }) }, "Replay"),
          },
        ],
        data.letters,
        "no dead letters",
      ),
    );
  }
  async function replay(body) {
    status.textContent = "replaying…";
    try {
      const result = await api("/v1/ops/dlq/replay", { method: "POST", body });
      const refused = result.refused.map((r) => `#${r.offset}: ${r.reason}`).join("; ");
      status.textContent = `replayed ${result.replayed.length} to cdp.events.raw` + (refused ? `; refused ${refused}` : "");
    } catch (err) {
      status.textContent = `replay failed: ${err.message}`;
    }
  }
  page.replaceChildren(h("h1", {}, "Dead letters"), h("p", { class: "muted" }, "loading…"));
  return load();
}
