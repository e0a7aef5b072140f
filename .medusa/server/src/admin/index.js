"use strict"
// GENERATED from index.mjs by scripts/build-admin.js: edit index.mjs.
Object.defineProperty(exports, "__esModule", { value: true })
// Medusa Admin extension of medusa-plugin-segment-rs (Medusa >= 2.7): the
// Segment page (/app/segment) and a widget on the order details page.
//
// Hand-written ESM in the shape of Medusa's DashboardPlugin object (what
// `medusa plugin:build` generates), without JSX, so the package needs no
// build toolchain; index.js is its CommonJS twin (scripts/build-admin.js),
// which the app's Tailwind scans for class names. Bare imports are the ones
// the dashboard itself provides (react, @medusajs/ui). docs/admin.md.
const { createElement: h, useCallback, useEffect, useState } = require("react")
const { Badge, Button, Container, Heading, Input, Label, Text } = require("@medusajs/ui")

const API = "/admin/segment"

async function call(path, opts = {}) {
  const res = await fetch(path, {
    credentials: "include",
    headers: { "content-type": "application/json", accept: "application/json" },
    ...opts,
  })
  let body = null
  try {
    body = await res.json()
  } catch (_) {
    body = { message: `HTTP ${res.status}` }
  }
  if (!res.ok && res.status !== 409) throw new Error((body && body.message) || `HTTP ${res.status}`)
  return body
}

/** Polls `path` every `ms` while mounted; returns [data, error, reload]. */
function usePolled(path, ms) {
  const [data, setData] = useState(null)
  const [error, setError] = useState(null)
  const load = useCallback(() => {
    call(path).then(
      (d) => {
        setData(d)
        setError(null)
      },
      (e) => setError(e.message)
    )
  }, [path])
  useEffect(() => {
    load()
    const t = setInterval(load, ms)
    return () => clearInterval(t)
  }, [load, ms])
  return [data, error, load]
}

function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–"
  s = Math.round(s)
  const hh = Math.floor(s / 3600)
  const mm = Math.floor((s % 3600) / 60)
  return hh ? `${hh}h ${mm}m` : mm ? `${mm}m ${s % 60}s` : `${s}s`
}

function Section({ title, children, testid }) {
  return h(
    Container,
    { className: "divide-y p-0", "data-testid": testid },
    h("div", { className: "px-6 py-4" }, h(Heading, { level: "h2" }, title)),
    h("div", { className: "px-6 py-4 flex flex-col gap-3" }, children)
  )
}

function KeyValues({ rows }) {
  return h(
    "dl",
    { className: "grid grid-cols-2 gap-x-6 gap-y-1 txt-small" },
    ...rows.flatMap(([k, v, id]) => [
      h("dt", { key: `k-${k}`, className: "text-ui-fg-subtle" }, k),
      h("dd", { key: `v-${k}`, className: "text-ui-fg-base font-medium", "data-testid": id }, String(v)),
    ])
  )
}

function Delivery({ stats }) {
  const s = stats || {}
  const dropped = Object.entries(s.dropped || {})
  const failed = Object.entries(s.failed_reasons || {})
  return h(
    Section,
    { title: "Delivery (this process, since it started)", testid: "segment-delivery" },
    h(KeyValues, {
      rows: [
        ["Delivered", s.delivered ?? 0, "segment-delivered"],
        ["Accepted", s.accepted ?? 0],
        ["Failed (given up)", s.failed ?? 0, "segment-failed"],
        ["Retried", s.retried ?? 0, "segment-retried"],
        ["Queued", s.queued ?? 0, "segment-queued"],
        ["In flight", s.in_flight ?? 0],
        ["Spooled on disk (bytes)", s.spool_bytes ?? 0, "segment-spooled"],
        ["Replayed from the spool", s.replayed ?? 0],
        ["Dropped", dropped.reduce((a, [, n]) => a + n, 0), "segment-dropped"],
      ],
    }),
    dropped.length ? h(Text, { size: "small" }, "Dropped by reason: " + dropped.map(([r, n]) => `${r} ${n}`).join(", ")) : null,
    failed.length ? h(Text, { size: "small" }, "Failed by reason: " + failed.map(([r, n]) => `${r} ${n}`).join(", ")) : null,
    s.disabled_reason ? h(Badge, { color: "red" }, `Delivery disabled: ${s.disabled_reason}`) : null
  )
}

function LastErrors({ errors }) {
  const list = (errors || []).slice().reverse()
  return h(
    Section,
    { title: "Last errors", testid: "segment-errors" },
    list.length
      ? h(
          "ul",
          { className: "txt-small flex flex-col gap-1" },
          ...list.map((e, i) =>
            h("li", { key: i }, h("span", { className: "text-ui-fg-subtle mr-2" }, new Date(e.at).toLocaleString()), h(Badge, { size: "2xsmall", color: e.level === "error" ? "red" : "orange", className: "mr-2" }, e.level), e.message)
          )
        )
      : h(Text, { size: "small", className: "text-ui-fg-subtle" }, "None since this process started.")
  )
}

function TestEvent({ canEdit, onDone }) {
  const [busy, setBusy] = useState(false)
  const [answer, setAnswer] = useState(null)
  const send = () => {
    setBusy(true)
    setAnswer(null)
    call(`${API}/test`, { method: "POST", body: "{}" })
      .then((r) => setAnswer(r), (e) => setAnswer({ ok: false, answer: e.message }))
      .finally(() => {
        setBusy(false)
        onDone()
      })
  }
  return h(
    Section,
    { title: "Test", testid: "segment-test" },
    h(Text, { size: "small" }, 'Sends one "Segment Test Event" track call through the plugin\'s client and shows Segment\'s answer.'),
    h("div", null, h(Button, { variant: "secondary", size: "small", disabled: !canEdit || busy, isLoading: busy, onClick: send, "data-testid": "segment-send-test" }, "Send a test event")),
    answer
      ? h(
          "div",
          { "data-testid": "segment-test-answer", className: "txt-small" },
          h(Badge, { color: answer.ok ? "green" : "red", className: "mr-2" }, answer.ok ? "Delivered" : "Not delivered"),
          answer.answer,
          answer.message_id ? h("span", { className: "text-ui-fg-subtle ml-2" }, `messageId ${answer.message_id}, ${answer.ms} ms`) : null
        )
      : null
  )
}

function Backfill({ canEdit, defaults }) {
  const [runs, error, reload] = usePolled(`${API}/backfill`, 2000)
  const [from, setFrom] = useState("")
  const [to, setTo] = useState("")
  const [note, setNote] = useState(null)
  const [busy, setBusy] = useState(false)
  const start = (dry) => {
    setBusy(true)
    setNote(null)
    call(`${API}/backfill`, { method: "POST", body: JSON.stringify({ from: from || undefined, to: to || undefined, dry_run: dry }) })
      .then(
        (r) => setNote(dry ? `Dry run: ${r.orders} orders to send (${r.orders_in_range} in the range); calls by Medusa event: ${JSON.stringify(r.messages_by_medusa_event)}` : r.message),
        (e) => setNote(`Error: ${e.message}`)
      )
      .finally(() => {
        setBusy(false)
        reload()
      })
  }
  const list = (runs && runs.runs) || []
  return h(
    Section,
    { title: "Backfill past orders", testid: "segment-backfill" },
    h(
      Text,
      { size: "small" },
      "Sends past orders (identify, Order Completed, and Shipped / Cancelled / Refunded when they happened) with their original dates and the messageIds of live tracking, so nothing is counted twice. " +
        `At most ${defaults ? defaults.rate : "?"} orders per second. Some destinations drop events older than a few days: see the plugin's docs/backfill.md.`
    ),
    h(
      "div",
      { className: "flex gap-3 items-end" },
      h("div", null, h(Label, { size: "small" }, "From (created on or after)"), h(Input, { type: "date", size: "small", value: from, onChange: (e) => setFrom(e.target.value), "data-testid": "segment-backfill-from" })),
      h("div", null, h(Label, { size: "small" }, "To (created before)"), h(Input, { type: "date", size: "small", value: to, onChange: (e) => setTo(e.target.value), "data-testid": "segment-backfill-to" })),
      h(Button, { variant: "secondary", size: "small", disabled: !canEdit || busy, onClick: () => start(true), "data-testid": "segment-backfill-dry" }, "Dry run"),
      h(Button, { variant: "primary", size: "small", disabled: !canEdit || busy, onClick: () => start(false), "data-testid": "segment-backfill-start" }, "Start backfill")
    ),
    note ? h(Text, { size: "small", "data-testid": "segment-backfill-note" }, note) : null,
    error ? h(Text, { size: "small", className: "text-ui-fg-error" }, error) : null,
    list.length
      ? h(
          "table",
          { className: "txt-small w-full", "data-testid": "segment-backfill-runs" },
          h("thead", null, h("tr", { className: "text-ui-fg-subtle text-left" }, ...["Range", "Status", "Orders", "Messages", "Rate", "ETA", "Updated"].map((c) => h("th", { key: c, className: "font-normal pr-4" }, c)))),
          h(
            "tbody",
            null,
            ...list.map((r) => {
              const pct = r.total ? Math.floor((r.done / r.total) * 100) : r.status === "done" ? 100 : 0
              const p = r.progress || {}
              return h(
                "tr",
                { key: r.id, "data-status": r.status },
                h("td", { className: "pr-4" }, r.range_key === ".." ? "all orders" : r.range_key.replace("..", " → ")),
                h("td", { className: "pr-4" }, h(Badge, { size: "2xsmall", color: r.status === "done" ? "green" : r.status === "failed" ? "red" : "blue" }, r.status), r.error ? ` ${r.error}` : ""),
                h("td", { className: "pr-4", "data-testid": "segment-backfill-progress" }, `${r.done} / ${r.total} (${pct}%)`),
                h("td", { className: "pr-4" }, r.messages),
                h("td", { className: "pr-4" }, r.status === "running" && p.rate ? `${p.rate}/s` : "–"),
                h("td", { className: "pr-4" }, r.status === "running" ? fmtDuration(p.eta_seconds) : "–"),
                h("td", null, r.heartbeat_at ? new Date(r.heartbeat_at).toLocaleString() : "")
              )
            })
          )
        )
      : h(Text, { size: "small", className: "text-ui-fg-subtle" }, "No backfill yet.")
  )
}

function EventsAndOptions({ events, options }) {
  return h(
    Section,
    { title: "Configuration", testid: "segment-config" },
    h(
      "table",
      { className: "txt-small" },
      h("tbody", null, ...(events || []).map((e) => h("tr", { key: e.medusa_event }, h("td", { className: "pr-6 text-ui-fg-subtle" }, e.medusa_event), h("td", null, e.segment_calls.join(", ")))))
    ),
    h(KeyValues, { rows: Object.entries(options || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]) })
  )
}

function SegmentPage() {
  const [data, error, reload] = usePolled(API, 5000)
  if (error && !data) return h(Container, null, h(Text, { className: "text-ui-fg-error" }, `Cannot load the Segment status: ${error}`))
  if (!data) return h(Container, null, h(Text, null, "Loading…"))
  return h(
    "div",
    { className: "flex flex-col gap-3", "data-testid": "segment-page" },
    h(
      Container,
      { className: "flex items-center justify-between" },
      h(Heading, { level: "h1" }, "Segment"),
      data.can_edit ? null : h(Badge, { color: "grey", "data-testid": "segment-read-only" }, "Read-only")
    ),
    h(Delivery, { stats: data.stats }),
    h(LastErrors, { errors: data.recent_errors }),
    h(TestEvent, { canEdit: data.can_edit, onDone: reload }),
    h(Backfill, { canEdit: data.can_edit, defaults: data.backfill && data.backfill.defaults }),
    h(EventsAndOptions, { events: data.events, options: data.options })
  )
}

function OrderSegmentWidget({ data: order }) {
  const [data] = usePolled(API, 15000)
  const s = (data && data.stats) || {}
  const dropped = Object.values(s.dropped || {}).reduce((a, n) => a + n, 0)
  return h(
    Container,
    { className: "flex flex-col gap-2", "data-testid": "segment-order-widget" },
    h(Heading, { level: "h2" }, "Segment"),
    h(Text, { size: "small", className: "text-ui-fg-subtle" }, `Live tracking and a backfill send ${order ? order.id : "this order"} with the same messageIds: Segment keeps one of each.`),
    h(Text, { size: "small" }, data ? `Delivered ${s.delivered ?? 0}, queued ${s.queued ?? 0}, dropped ${dropped}.` : "…"),
    h("a", { href: "/app/segment", className: "txt-small text-ui-fg-interactive" }, "Open the Segment page")
  )
}

function SegmentIcon() {
  return h(
    "svg",
    { width: 15, height: 15, viewBox: "0 0 15 15", fill: "none", xmlns: "http://www.w3.org/2000/svg" },
    h("path", { d: "M2 10.5h7M6 4.5h7M2 7.5h11", stroke: "currentColor", strokeWidth: 1.5, strokeLinecap: "round" })
  )
}

exports.default = {
  widgetModule: { widgets: [{ Component: OrderSegmentWidget, zone: ["order.details.side.after"] }] },
  routeModule: { routes: [{ Component: SegmentPage, path: "/segment" }] },
  menuItemModule: { menuItems: [{ label: "Segment", icon: SegmentIcon, path: "/segment", nested: undefined }] },
  formModule: { customFields: {} },
  displayModule: { displays: {} },
  i18nModule: { resources: {} },
  layoutModule: { layouts: [] },
}
