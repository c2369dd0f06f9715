// Segments with their current sizes, and sizes over the last 30 days.
import { api } from "./api.js";
import { lineChart } from "./charts.js";
import { fmt, h, table, when } from "./dom.js";

export async function render(page) {
  page.replaceChildren(h("h1", {}, "Segments"), h("p", { class: "muted" }, "loading…"));
  const [list, history] = await Promise.all([api("/v1/segments"), api("/v1/ops/segments/history?days=30")]);
  const series = Object.entries(history.series).map(([name, points]) => ({ name, points }));
  page.replaceChildren(
    h("h1", {}, "Segments"),
    table(
      [
        { label: "slug", cell: (r) => r.slug },
        { label: "name", cell: (r) => r.name },
        { label: "version", num: true, cell: (r) => r.version },
        { label: "state", cell: (r) => r.state + (r.backfilled ? "" : " (backfilling)") },
        { label: "members", num: true, cell: (r) => fmt(r.size) },
        { label: "updated", cell: (r) => when(r.updated_at) },
      ],
      list.segments,
      "no segments yet: cdp segments apply cdp/demo/segments.yaml",
    ),
    series.length
      ? lineChart("Members over the last 30 days (current members by the day they joined)", series, history.days)
      : null,
  );
}
