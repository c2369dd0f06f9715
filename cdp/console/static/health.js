// Pipeline health: polls /v1/ops/overview and charts throughput and lag from successive snapshots.
import { api } from "./api.js";
import { lineChart } from "./charts.js";
import { fmt, h, table } from "./dom.js";

const POLL_MS = 2000;
const KEEP = 90;

export function render(page) {
  const samples = [];
  let timer = null;
  let stopped = false;

  async function tick() {
    try {
      const snapshot = await api("/v1/ops/overview");
      samples.push(snapshot);
      if (samples.length > KEEP) samples.shift();
      if (!stopped) page.replaceChildren(view(samples));
    } catch (err) {
      if (!stopped) page.replaceChildren(h("h1", {}, "Pipeline health"), h("p", { class: "error" }, err.message));
    }
    if (!stopped) timer = setTimeout(() => tick().catch(() => {}), POLL_MS);
  }
  page.replaceChildren(h("h1", {}, "Pipeline health"), h("p", { class: "muted" }, "loading…"));
  tick().catch(() => {});
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function rates(samples) {
  const produced = [];
  const applied = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].at - samples[i - 1].at;
    produced.push(dt > 0 ? Math.max(0, (samples[i].produced - samples[i - 1].produced) / dt) : 0);
    applied.push(dt > 0 ? Math.max(0, (samples[i].applied - samples[i - 1].applied) / dt) : 0);
  }
  return { produced, applied };
}

function lagByGroup(samples) {
  const groups = [...new Set(samples.flatMap((s) => s.lag.map((r) => r.group)))];
  return groups.map((group) => ({
    name: group,
    points: samples.map((s) => s.lag.filter((r) => r.group === group).reduce((a, r) => a + r.lag, 0)),
  }));
}

function view(samples) {
  const last = samples[samples.length - 1];
  const { produced, applied } = rates(samples);
  const totalLag = last.lag.reduce((a, r) => a + r.lag, 0);
  const times = samples.map((s) => new Date(s.at * 1000).toISOString().slice(11, 19));
  return h(
    "div",
    { id: "health" },
    h("h1", {}, "Pipeline health"),
    h(
      "div",
      { class: "cards" },
      card("events/s in (raw topic)", produced.length ? fmt(produced[produced.length - 1]) : "…"),
      card("events/s applied", applied.length ? fmt(applied[applied.length - 1]) : "…"),
      card("consumer lag", fmt(totalLag)),
      card("outbox backlog", fmt(last.outbox_backlog)),
      card("profiles", fmt(last.profiles)),
      card("dead letters", fmt(last.dead_letters.total)),
    ),
    h(
      "div",
      { class: "grid2" },
      lineChart("Throughput (events/s)", [
        { name: "into cdp.events.raw", points: produced },
        { name: "applied by the processor", points: applied },
      ], times.slice(1)),
      lineChart("Consumer lag (records)", lagByGroup(samples), times),
    ),
    h("h2", {}, "Lag per group and partition"),
    table(
      [
        { label: "group", cell: (r) => r.group },
        { label: "topic", cell: (r) => r.topic },
        { label: "partition", num: true, cell: (r) => r.partition },
        { label: "committed", num: true, cell: (r) => fmt(r.committed) },
        { label: "end", num: true, cell: (r) => fmt(r.end) },
        { label: "lag", num: true, cell: (r) => fmt(r.lag) },
      ],
      last.lag,
      "no consumer has stored offsets yet",
    ),
    h("h2", {}, `Dead letters by stage and reason (${fmt(last.dead_letters.counted)} newest counted)`),
    table(
      [
        { label: "stage", cell: (r) => r.stage },
        { label: "reason", cell: (r) => r.reason },
        { label: "count", num: true, cell: (r) => fmt(r.count) },
      ],
      last.dead_letters.by_reason,
      "no dead letters",
    ),
    h("h2", {}, "Destinations"),
    last.destinations === null
      ? h("p", { class: "muted" }, "none configured")
      : table(
          Object.keys(last.destinations[0] || {}).map((k) => ({ label: k, cell: (r) => fmt(r[k]) })),
          last.destinations,
          "none configured",
        ),
  );
}

function card(label, value) {
  return h("div", { class: "card" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}
