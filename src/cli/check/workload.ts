import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { ABSENT, KeyModel, resultOf, type Violation } from './history.js'

/** One HTTP exchange; throws when the connection breaks (the answer is then unknown). */
export type Http = (method: string, url: string, body?: Buffer) => Promise<{ status: number, body: Buffer }>

export interface CheckOptions {
  /** Base URLs of the gateways to use now (it may change: peers restarted elsewhere). */
  gateways: () => string[]
  http: Http
  /** How long the workload runs, ms. */
  durationMs: number
  /** Keys worked on at once. @default 4 */
  workers?: number
  /** Concurrent add_key of one key per round, each through a random gateway. @default 3 */
  contenders?: number
  /** Share of rounds that end with a delete. @default 0.5 */
  deleteShare?: number
  /** Share of deleted keys created again (another round on the same key). @default 0.5 */
  recreateShare?: number
  /** Share of values of 300 KB (staged, streamed) rather than up to 4 KB. @default 0.05 */
  largeShare?: number
  /** Key prefix, unique per run. @default pmzcheck/<random> */
  prefix?: string
  /** How long the final reads may wait for the cluster to settle, ms. @default 60000 */
  settleMs?: number
  /** Delete what the run stored, at the end. @default false */
  cleanup?: boolean
  /** Runs between the workload and the final check (a test harness restarts what it killed). */
  beforeFinal?: () => Promise<void>
  log?: (line: string) => void
}

export interface Counts { ok: number, exists: number, absent: number, refused: number, unknown: number }

export interface CheckSummary {
  keys: number
  rounds: number
  creates: Counts
  deletes: Counts
  /** Reads that answered 200 or 404 (checked), and the others (503, broken: not checked). */
  reads: number
  readsFailed: number
  /** Reads of the final check (every key through every gateway). */
  finalReads: number
  violations: Violation[]
  /** Time the final check took to pass, ms (-1 when it did not). */
  settledAfterMs: number
}

const zero = (): Counts => ({ ok: 0, exists: 0, absent: 0, refused: 0, unknown: 0 })
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]

/**
 * A consistency check of a running cluster through its gateways: rounds of
 * concurrent `add_key` of one key through several gateways, reads, deletes
 * and re-creates, every answer checked against the KeyModel of its key; at
 * the end every key is read through every gateway. Faults (kill -9,
 * partitions) are the caller's business.
 */
export async function runCheck (o: CheckOptions): Promise<CheckSummary> {
  const log = o.log ?? (() => {})
  const prefix = o.prefix ?? `pmzcheck/${randomUUID().slice(0, 8)}`
  const s: CheckSummary = { keys: 0, rounds: 0, creates: zero(), deletes: zero(), reads: 0, readsFailed: 0, finalReads: 0, violations: [], settledAfterMs: -1 }
  const models = new Map<string, KeyModel>()
  const deadline = Date.now() + o.durationMs
  const gateway = (): string | undefined => {
    const all = o.gateways()
    return all.length === 0 ? undefined : pick(all)
  }

  const read = async (model: KeyModel): Promise<void> => {
    const via = gateway()
    if (via === undefined) return
    try {
      const r = await o.http('GET', `${via}/get_key/${model.key}`)
      if (r.status === 200 || r.status === 404) {
        s.reads++
        model.read(r.status === 200 ? sha256(r.body) : ABSENT, via)
        return
      }
    } catch {}
    s.readsFailed++
  }

  const round = async (model: KeyModel): Promise<void> => {
    s.rounds++
    const values = Array.from({ length: o.contenders ?? 3 }, () => randomBytes(Math.random() < (o.largeShare ?? 0.05) ? 300 * 1024 : 16 + Math.floor(Math.random() * 4096)))
    const statuses = await Promise.all(values.map(async v => {
      const via = gateway()
      if (via === undefined) return 0
      try {
        return (await o.http('PUT', `${via}/add_key/${model.key}`, v)).status
      } catch {
        return undefined
      }
    }))
    const results = statuses.map(x => x === 0 ? 'refused' as const : resultOf(x))
    for (const r of results) s.creates[r]++
    model.creates(values.map(sha256), results, statuses)
    await read(model)
  }

  const worker = async (w: number): Promise<void> => {
    for (let n = 0; Date.now() < deadline; n++) {
      const model = new KeyModel(`${prefix}/${w}/${n}`)
      models.set(model.key, model)
      s.keys++
      await round(model)
      while (Date.now() < deadline && Math.random() < (o.deleteShare ?? 0.5)) {
        const via = gateway()
        if (via === undefined) break
        let result
        try {
          result = resultOf((await o.http('DELETE', `${via}/delete_key/${model.key}`)).status)
        } catch {
          result = resultOf(undefined)
        }
        s.deletes[result]++
        model.delete(result)
        await read(model)
        if (Math.random() >= (o.recreateShare ?? 0.5)) break
        await round(model)
      }
    }
  }

  await Promise.all(Array.from({ length: o.workers ?? 4 }, async (_, w) => await worker(w)))
  const during = [...models.values()].flatMap(m => m.violations.map(what => ({ key: m.key, what })))
  log(`check: ${s.keys} keys, ${s.rounds} rounds; creates ${JSON.stringify(s.creates)}; deletes ${JSON.stringify(s.deletes)}; ${s.reads} reads checked; final check`)
  await o.beforeFinal?.()
  s.violations = [...during, ...await finalCheck(o, [...models.values()], s)]
  if (o.cleanup === true) await cleanup(o, [...models.values()])
  return s
}

/** Every key through every gateway: each answer must be one the key may hold, polled until the cluster settles. */
async function finalCheck (o: CheckOptions, models: KeyModel[], s: CheckSummary): Promise<Violation[]> {
  const started = Date.now()
  const until = started + (o.settleMs ?? 60_000)
  let pending = models.flatMap(m => o.gateways().map(via => ({ m, via })))
  let last: Violation[] = []
  for (;;) {
    const wrong: typeof pending = []
    last = []
    await eachLimit(pending, 16, async ({ m, via }) => {
      s.finalReads++
      let got: string | undefined
      try {
        const r = await o.http('GET', `${via}/get_key/${m.key}`)
        if (r.status === 200) got = sha256(r.body)
        else if (r.status === 404) got = ABSENT
      } catch {}
      if (got !== undefined && m.values().includes(got)) return
      wrong.push({ m, via })
      last.push({ key: m.key, what: got === undefined ? `unreadable through ${via}` : `final read through ${via} gave ${got === ABSENT ? '404' : got.slice(0, 12)}, expected ${m.values().map(v => v === ABSENT ? '404' : v.slice(0, 12)).join(' or ')}` })
    })
    if (wrong.length === 0) {
      s.settledAfterMs = Date.now() - started
      return []
    }
    if (Date.now() > until) return last
    pending = wrong
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

async function cleanup (o: CheckOptions, models: KeyModel[]): Promise<void> {
  await eachLimit(models.filter(m => m.values().some(v => v !== ABSENT)), 8, async m => {
    const via = o.gateways()[0]
    if (via !== undefined) await o.http('DELETE', `${via}/delete_key/${m.key}`).catch(() => undefined)
  })
}

async function eachLimit<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}
