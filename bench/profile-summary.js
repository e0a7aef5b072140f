"use strict"
// node bench/profile-summary.js FILE.cpuprofile [N]: self and total time per
// function from a V8 CPU profile (as written by --cpu-prof), top N.
const fs = require("node:fs")
const prof = JSON.parse(fs.readFileSync(process.argv[2], "utf8"))
const top = Number(process.argv[3] || 25)
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const dt = new Map()
for (let i = 0; i < prof.samples.length; i++) {
  const d = prof.timeDeltas[i] || 0
  dt.set(prof.samples[i], (dt.get(prof.samples[i]) || 0) + d)
}
const parent = new Map()
for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id)
const self = new Map()
const total = new Map()
const key = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber + 1}`
let all = 0
for (const [id, t] of dt) {
  all += t
  const n = byId.get(id)
  self.set(key(n), (self.get(key(n)) || 0) + t)
  const seen = new Set()
  for (let cur = id; cur != null; cur = parent.get(cur)) {
    const k = key(byId.get(cur))
    if (seen.has(k)) continue
    seen.add(k)
    total.set(k, (total.get(k) || 0) + t)
  }
}
const show = (m, label) => {
  console.log(`\n${label} (of ${(all / 1000).toFixed(0)} ms sampled)`)
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / all).toFixed(1).padStart(5)}%  ${k}`)
}
show(self, "self time")
show(total, "total time")
