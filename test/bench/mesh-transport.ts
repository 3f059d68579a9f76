import * as zmq from 'zeromq'
import { systemClock } from '../../src/common/clock.js'
import { createLogger } from '../../src/common/logger.js'
import { STREAM_CHUNK_BYTES, STREAM_CREDIT_CHUNKS, createTransport, type Transport } from '../../src/mesh/transport/index.js'
import { fmt, table } from './lib.js'

const PAYLOAD = Buffer.alloc(1024, 'x')
const ROUNDS = 3
const ROUND_SECONDS = 1
const WARMUP_SECONDS = 0.5
const PIPELINE = 64

/** Runs `inFlight` requests at a time for `seconds`; req/s. */
type Echo = (inFlight: number, seconds: number) => Promise<number>

/**
 * Issue 3's benchmark: two pmz transports in one process on 127.0.0.1, 1 KB
 * request/reply, sequential and PIPELINE in flight, next to a raw zeromq
 * ROUTER/DEALER echo (plain and Curve) measured in the same run. The three
 * take turns, ROUNDS rounds of ROUND_SECONDS each, and the median round
 * counts, so that a noisy neighbour on a small machine hits all of them alike.
 */
export async function meshTransportBench (): Promise<void> {
  console.log(`\n== mesh transport: 1 KB request/reply, ${ROUNDS} x ${ROUND_SECONDS} s per figure, pmz vs raw zeromq ROUTER/DEALER echo ==`)
  const plain = await rawEcho(false)
  const curve = await rawEcho(true)
  const pmz = await pmzEcho()
  try {
    const rows: Array<Record<string, string>> = []
    for (const [mode, inFlight] of [['sequential', 1], [`pipelined x${PIPELINE}`, PIPELINE]] as const) {
      for (const e of [plain, curve, pmz]) await e.run(inFlight, WARMUP_SECONDS)
      const rounds: number[][] = [[], [], []]
      for (let r = 0; r < ROUNDS; r++) {
        for (const [i, e] of [plain, curve, pmz].entries()) rounds[i].push(await e.run(inFlight, ROUND_SECONDS))
      }
      const [p, c, z] = rounds.map(median)
      rows.push({
        mode,
        'raw req/s': fmt(p),
        'raw curve req/s': fmt(c),
        'pmz req/s': fmt(z),
        'pmz/raw': fmt(z / p, 2),
        'pmz/raw curve': fmt(z / c, 2)
      })
    }
    table(rows)
  } finally {
    for (const e of [plain, curve, pmz]) await e.close()
  }
  console.log('pmz: Curve-encrypted, msgpack frames, request ids, deadlines. raw: the same 1 KB echoed by a bare ROUTER, no framing.')
  console.log('targets: sequential >= 20,000 req/s, pmz >= 0.5x raw')
  await bigBodies()
}

const GIB = 1024 ** 3

/** 1 GiB each way through one request, under credit-based flow control: MB/s and the process's peak RSS. */
async function bigBodies (): Promise<void> {
  console.log('\n== mesh transport: 1 GiB body, reply and request, two transports in one process ==')
  const log = createLogger({ level: 'silent' })
  const a = createTransport({ clock: systemClock, log }, { peerId: 'big-a', host: '127.0.0.1', port: 0, clusterKey: 'bench-key' })
  const b = createTransport({ clock: systemClock, log }, { peerId: 'big-b', host: '127.0.0.1', port: 0, clusterKey: 'bench-key' })
  await a.start()
  await b.start()
  const chunk = Buffer.alloc(STREAM_CHUNK_BYTES, 'x')
  async function * source (): AsyncGenerator<Uint8Array> {
    for (let sent = 0; sent < GIB; sent += chunk.length) yield chunk
  }
  b.handle('get', () => ({ msg: { type: 'get.ok' }, body: source() }))
  b.handle('put', async req => {
    let n = 0
    for await (const c of req.body ?? []) n += c.byteLength
    return { type: 'put.ok', n }
  })
  let peak = 0
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
  const rows: Array<Record<string, string>> = []
  try {
    for (const op of ['reply body', 'request body'] as const) {
      peak = process.memoryUsage().rss
      const before = peak
      const t0 = performance.now()
      let n = 0
      if (op === 'reply body') {
        const reply = await a.request(b.address(), { type: 'get' })
        for await (const c of reply.body ?? []) n += c.byteLength
      } else {
        n = (await a.request(b.address(), { type: 'put' }, { body: source(), timeoutMs: 600_000 })).msg.n as number
      }
      if (n !== GIB) throw new Error(`${op}: ${n} bytes arrived, not ${GIB}`)
      rows.push({ op, 'MB/s': fmt(GIB / 2 ** 20 / ((performance.now() - t0) / 1000)), 'RSS before MB': fmt(before / 2 ** 20), 'peak RSS MB': fmt(peak / 2 ** 20) })
    }
  } finally {
    clearInterval(sampler)
    await a.stop()
    await b.stop()
  }
  table(rows)
  console.log(`window: ${STREAM_CREDIT_CHUNKS} chunks of ${STREAM_CHUNK_BYTES / 1024} KiB per body; memory must not grow with the size of the body.`)
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function rawEcho (curve: boolean): Promise<{ run: Echo, close: () => Promise<void> }> {
  const router = new zmq.Router({ linger: 0 })
  const dealer = new zmq.Dealer({ linger: 0 })
  if (curve) {
    const server = zmq.curveKeyPair()
    const client = zmq.curveKeyPair()
    router.curveServer = true
    router.curveSecretKey = server.secretKey
    dealer.curveServerKey = server.publicKey
    dealer.curvePublicKey = client.publicKey
    dealer.curveSecretKey = client.secretKey
  }
  await router.bind('tcp://127.0.0.1:0')
  dealer.connect(router.lastEndpoint as string)
  const serving = (async () => {
    for await (const [id, body] of router) await router.send([id, body])
  })().catch(() => {})
  const replies = dealer[Symbol.asyncIterator]()
  const run: Echo = async (inFlight, seconds) => {
    const end = performance.now() + seconds * 1000
    const t0 = performance.now()
    let done = 0
    for (let i = 0; i < inFlight; i++) await dealer.send(PAYLOAD)
    let outstanding = inFlight
    while (outstanding > 0) {
      await replies.next()
      done++
      if (performance.now() < end) await dealer.send(PAYLOAD)
      else outstanding--
    }
    return done / ((performance.now() - t0) / 1000)
  }
  return {
    run,
    close: async () => {
      dealer.close()
      router.close()
      await serving
    }
  }
}

async function pmzEcho (): Promise<{ run: Echo, close: () => Promise<void> }> {
  const log = createLogger({ level: 'silent' })
  const make = (peerId: string): Transport =>
    createTransport({ clock: systemClock, log }, { peerId, host: '127.0.0.1', port: 0, clusterKey: 'bench-key' })
  const a = make('bench-a')
  const b = make('bench-b')
  await a.start()
  await b.start()
  b.handle('echo', req => ({ type: 'echo.ok', data: req.msg.data }))
  const to = b.address()
  const run: Echo = async (inFlight, seconds) => {
    const end = performance.now() + seconds * 1000
    const t0 = performance.now()
    let done = 0
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await a.request(to, { type: 'echo', data: PAYLOAD })
        done++
      }
    }))
    return done / ((performance.now() - t0) / 1000)
  }
  return {
    run,
    close: async () => {
      await a.stop()
      await b.stop()
    }
  }
}
