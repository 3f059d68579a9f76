// One process of the raw pipelines reference (pipelines-raw.ts): a bare
// zeromq PUSH/PULL chain, source -> middle (no-op) -> sink, no framing but the
// 1 KB packet itself. ROLE picks the part:
//   sink:   binds a PULL, prints {"endpoint"}; on "go" from stdin expects
//           PACKETS packets, then prints {"done", p50, p99, firstAt, lastAt}
//   middle: binds a PULL, connects a PUSH to NEXT, forwards every message as is
//   source: connects a PUSH to NEXT; on "go" sends PACKETS packets of BYTES,
//           RATE per second (0: as fast as the socket takes them), each
//           stamped with its send time, then prints {"sent", startedAt}
// Each stays alive after its work until killed, so its CPU time can be read.
import { createInterface } from 'node:readline'
import * as zmq from 'zeromq'

const role = process.env.ROLE
const packets = Number(process.env.PACKETS ?? 0)
const bytes = Number(process.env.BYTES ?? 1024)
const rate = Number(process.env.RATE ?? 0)
const wallMs = () => performance.timeOrigin + performance.now()
const say = obj => process.stdout.write(`${JSON.stringify(obj)}\n`)
// Alive until killed (the parent reads its CPU time after the run).
setInterval(() => {}, 1 << 30)
const go = new Promise(resolve => {
  createInterface({ input: process.stdin }).on('line', line => { if (line.trim() === 'go') resolve() })
})

if (role === 'sink' || role === 'middle') {
  const pull = new zmq.Pull()
  await pull.bind('tcp://127.0.0.1:*')
  if (role === 'middle') {
    const push = new zmq.Push()
    push.connect(process.env.NEXT)
    say({ endpoint: pull.lastEndpoint })
    for await (const [msg] of pull) await push.send(msg)
  } else {
    say({ endpoint: pull.lastEndpoint })
    await go
    const latencies = new Float64Array(packets)
    let n = 0
    let firstAt = 0
    for await (const [msg] of pull) {
      const now = wallMs()
      if (n === 0) firstAt = now
      latencies[n++] = now - msg.readDoubleLE(0)
      if (n === packets) {
        latencies.sort()
        const at = q => latencies[Math.min(packets - 1, Math.floor(q * packets))]
        say({ done: n, p50: at(0.5), p99: at(0.99), firstAt, lastAt: now })
      }
    }
  }
} else if (role === 'source') {
  const push = new zmq.Push()
  push.connect(process.env.NEXT)
  say({ ready: true })
  await go
  const startedAt = wallMs()
  for (let i = 0; i < packets; i++) {
    if (rate > 0) {
      const due = startedAt + (i * 1000) / rate
      const wait = due - wallMs()
      if (wait > 1) await new Promise(resolve => setTimeout(resolve, wait))
    }
    const packet = Buffer.alloc(bytes, 'x')
    packet.writeDoubleLE(wallMs(), 0)
    packet.writeUInt32LE(i, 8)
    await push.send(packet)
  }
  say({ sent: packets, startedAt })
} else {
  process.stderr.write(`ROLE must be sink, middle or source, got ${role}\n`)
  process.exit(2)
}
