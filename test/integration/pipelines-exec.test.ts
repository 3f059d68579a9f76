// Stage instances with real worker threads and child processes (issue 17, "Stages are seeds"): every
// module stage test runs in both isolations. Needs `npm run build`: module stages run in the compiled
// dist/pipelines/exec/stage-thread.js and stage-child.js.
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/common/clock.js'
import { createLogger } from '../../src/common/logger.js'
import type { LogStream } from '../../src/jobs/exec/index.js'
import { createInstanceHost, type InstanceHostInit, type StageProcessHost, type StageSeed } from '../../src/pipelines/exec/index.js'
import type { Packet, StageDecl, StageInstance } from '../../src/pipelines/types.js'
import { codeOf } from '../helpers/errors.js'
import { memoryStore } from '../helpers/memory-store.js'

const FIXTURES = join(import.meta.dirname, '../fixtures/seeds/stages')

const DECLS: Record<string, { file: string, kind: StageSeed['kind'], pipeline: StageDecl }> = {
  shapes: { file: 'shapes.mjs', kind: 'module', pipeline: { consumes: ['in'], produces: 'out', source: false, events: ['count', 'flush'] } },
  'in-thread': { file: 'shapes.mjs', kind: 'module', pipeline: { consumes: ['in'], produces: 'out', source: false, events: [], isolation: 'thread' } },
  'in-process': { file: 'shapes.mjs', kind: 'module', pipeline: { consumes: ['in'], produces: 'out', source: false, events: [], isolation: 'process' } },
  sink: { file: 'shapes.mjs', kind: 'module', pipeline: { consumes: ['in'], source: false, events: [] } },
  source: { file: 'source.mjs', kind: 'module', pipeline: { consumes: [], produces: 'numbers', source: true, events: ['count'] } },
  'slow-source': { file: 'slow-source.mjs', kind: 'module', pipeline: { consumes: [], produces: 'ticks', source: true, events: [] } },
  'setup-hangs': { file: 'setup-hangs.mjs', kind: 'module', pipeline: { consumes: ['in'], source: false, events: [] } },
  'setup-throws': { file: 'setup-throws.mjs', kind: 'module', pipeline: { consumes: ['in'], source: false, events: [] } },
  echo: { file: 'echo.sh', kind: 'executable', pipeline: { consumes: ['in'], produces: 'echoed', source: false, events: [] } },
  fail: { file: 'fail.sh', kind: 'executable', pipeline: { consumes: ['in'], produces: 'echoed', source: false, events: [] } }
}

function seedOf (stage: string): StageSeed | undefined {
  const d = DECLS[stage]
  return d === undefined ? undefined : { name: stage, path: join(FIXTURES, d.file), kind: d.kind, hash: 'h1', pipeline: d.pipeline }
}

function packet (payload: unknown, more: Partial<Packet> = {}): Packet {
  return { id: randomUUID(), tag: 'in', priority: 0, payload, headers: {}, bornAt: Date.now(), ...more }
}

const log = createLogger({ level: 'silent' })
let host: StageProcessHost | undefined
let lines: Array<[string, string, LogStream]> = []

function makeHost (init: Partial<InstanceHostInit> = {}): StageProcessHost {
  lines = []
  host = createInstanceHost({ clock: systemClock, log, store: memoryStore(), seedOf, onLog: (stage, line, stream) => lines.push([stage, line, stream]) }, { peerId: 'peer-a', stopTimeoutMs: 5000, killGraceMs: 200, ...init })
  return host
}

const texts = (): string[] => lines.map(([, line]) => line)

afterEach(async () => {
  await host?.stop()
  host = undefined
})

describe.each(['thread', 'process'] as const)('%s isolation', isolation => {
  const mk = (init: Partial<InstanceHostInit> = {}): StageProcessHost => makeHost({ isolation, ...init })

  describe('a module stage instance', () => {
    it('runs setup once, then packets one at a time, then cleanup on a drain, in that order', async () => {
      const instance = await mk().start('shapes')
      expect(instance.stage).toBe('shapes')
      expect(await instance.run(packet({ do: 'runs' }))).toEqual({ ok: true, emitted: [{ tag: 'out', payload: 1 }] })
      expect(await instance.run(packet({ do: 'runs' }))).toEqual({ ok: true, emitted: [{ tag: 'out', payload: 2 }] })
      const exits: string[] = []
      instance.onExit(reason => exits.push(reason))
      await instance.stop('drain')
      expect(texts()).toEqual(['setup shapes peer-a', 'console works too', 'cleanup true'])
      expect(lines[0][2]).toBe('info')
      expect(exits).toEqual([]) // a requested stop is no exit to report
      expect(await instance.run(packet({ do: 'runs' }))).toMatchObject({ ok: false, error: 'the stage instance is stopping' })
    })

    it('runs calls made before the previous one settled one at a time, in order; the calls of one turn cross in one message', async () => {
      const instance = await mk().start('shapes')
      const ipc = async (): Promise<number> => (await instance.run(packet({ do: 'ipc' }))).emitted[0].payload as number
      const before = await ipc()
      const outcomes = await Promise.all(Array.from({ length: 20 }, async () => await instance.run(packet({ do: 'runs' }))))
      expect(outcomes.map(o => o.emitted[0].payload)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2))
      expect(await ipc()).toBe(before + 2) // the twenty runs, then this call
    })

    it('turns what run returns into payloads under produces: nothing, one value, an array, an async iterable, a generator', async () => {
      const instance = await mk().start('shapes')
      const emitted = async (payload: unknown): Promise<unknown> => (await instance.run(packet(payload))).emitted
      expect(await emitted({ do: 'none' })).toEqual([])
      expect(await emitted({ do: 'null' })).toEqual([])
      const p = packet({ do: 'value' }, { key: 'k' })
      expect((await instance.run(p)).emitted).toEqual([{ tag: 'out', payload: { got: p.id, tag: 'in', key: 'k' } }])
      expect(await emitted({ do: 'array' })).toEqual([{ tag: 'out', payload: 1 }, { tag: 'out', payload: 'two' }, { tag: 'out', payload: [3] }])
      expect(await emitted({ do: 'async' })).toEqual([{ tag: 'side', payload: 'during' }, { tag: 'out', payload: 'a' }, { tag: 'out', payload: 'b' }])
      expect(await emitted({ do: 'generator' })).toEqual([{ tag: 'out', payload: 'x' }, { tag: 'out', payload: 'y' }])
    })

    it('adds what ctx.emit sends, under any tag with its options; bytes cross as Buffers both ways', async () => {
      const instance = await mk().start('shapes')
      const out = await instance.run(packet({ do: 'emit' }))
      expect(out).toEqual({
        ok: true,
        emitted: [
          { tag: 'other', payload: { n: 1 }, key: 'k1', priority: 7, headers: { h: 'v' } },
          { tag: 'bytes', payload: Buffer.from([0, 1, 2, 255]) },
          { tag: 'out', payload: 'returned' }
        ]
      })
      expect(Buffer.isBuffer(out.emitted[1].payload)).toBe(true)
      const bytes = await instance.run(packet(Buffer.from('hello')))
      expect(bytes.emitted).toEqual([{ tag: 'out', payload: Buffer.from('hello!') }])
      expect(Buffer.isBuffer(bytes.emitted[0].payload)).toBe(true)
      expect(await instance.run(packet({ do: 'store' }))).toMatchObject({ ok: true, emitted: [{ payload: 'stored by shapes' }] })
    })

    it('fails a throwing run, or a bad emit or payload, with a one-line error, and stays usable', async () => {
      const instance = await mk().start('shapes')
      expect(await instance.run(packet({ do: 'throw' }))).toEqual({ ok: false, emitted: [], error: 'boom 1' })
      expect(await instance.run(packet({ do: 'bad-emit' }))).toMatchObject({ ok: false, error: expect.stringContaining('is no tag') })
      expect(await instance.run(packet({ do: 'bad-payload' }))).toMatchObject({ ok: false, error: 'TypeError: a payload must be a JSON value or bytes, not a function' })
      expect(await instance.run(packet({ do: 'runs' }))).toEqual({ ok: true, emitted: [{ tag: 'out', payload: 4 }] })
    })

    it('drops what a destination returns (it declares no produces), with one warning', async () => {
      const instance = await mk().start('sink')
      expect(await instance.run(packet({ do: 'value' }))).toEqual({ ok: true, emitted: [] })
      expect(await instance.run(packet({ do: 'emit' }))).toMatchObject({ ok: true, emitted: [{ tag: 'other' }, { tag: 'bytes' }] })
      expect(texts().filter(t => t.includes('declares no produces'))).toHaveLength(1)
    })

    it('calls custom events: on{Event} exports and the events map, whatever the case', async () => {
      const instance = await mk().start('shapes')
      await instance.run(packet({ do: 'none' }))
      expect(await instance.event('flush', { why: 'test' })).toEqual({ ok: true, emitted: [{ tag: 'flushed', payload: { why: 'test' } }, { tag: 'out', payload: { flushedAfter: 1 } }] })
      expect(await instance.event('COUNT', null)).toEqual({ ok: true, emitted: [{ tag: 'out', payload: 1 }] })
      expect(await instance.event('nope', null)).toEqual({ ok: false, emitted: [], error: 'the stage handles no event nope' })
    })

    it('reports a crash (process.exit) to onExit and fails the run under way', async () => {
      const instance = await mk().start('shapes')
      const exits: string[] = []
      instance.onExit(reason => exits.push(reason))
      expect(await instance.run(packet({ do: 'exit' }))).toEqual({ ok: false, emitted: [], error: `the stage's ${isolation} exited with code 3` })
      expect(exits).toEqual([`the stage's ${isolation} exited with code 3`])
      expect(await instance.run(packet({ do: 'runs' }))).toMatchObject({ ok: false })
    })

    it('kill ends the process at once, without cleanup; the run under way fails', async () => {
      const instance = await mk().start('shapes')
      const hanging = instance.run(packet({ do: 'hang' }))
      await instance.stop('kill')
      expect(await hanging).toEqual({ ok: false, emitted: [], error: 'the stage instance was killed' })
      expect(texts()).not.toContain('cleanup true')
    })

    it('a setup that throws fails the start with the reason; an unknown stage is not found', async () => {
      const h = mk()
      expect(await codeOf(h.start('setup-throws'))).toBe('ERR_UNAVAILABLE')
      await expect(h.start('setup-throws')).rejects.toThrow('stage setup-throws could not start: cannot open the database')
      expect(await codeOf(h.start('missing'))).toBe('ERR_NOT_FOUND')
    })

    it('a setup that never ends fails the start once its deadline passed; a drain that never ends is killed', async () => {
      const h = mk({ setupTimeoutMs: 300 })
      await expect(h.start('setup-hangs')).rejects.toThrow('stage setup-hangs could not start: setup took longer than 300 ms')
      await h.stop()
      // A host of its own: a loaded machine may take longer than 300 ms to start even a good instance.
      const instance = await mk({ stopTimeoutMs: 300 }).start('shapes')
      const hanging = instance.run(packet({ do: 'hang' }))
      await instance.stop('drain')
      expect(await hanging).toEqual({ ok: false, emitted: [], error: 'the stage instance is stopping' })
      expect(texts()).not.toContain('cleanup true')
    })

    it('the host\'s stop kills every instance it started, and starts no more', async () => {
      const h = mk()
      const [a, b] = await Promise.all([h.start('shapes'), h.start('source')])
      const hanging = a.run(packet({ do: 'hang' }))
      await h.stop()
      expect(await hanging).toMatchObject({ ok: false, error: 'the stage instance was killed' })
      expect(await b.pull!(1)).toMatchObject({ items: [], done: true })
      expect(await codeOf(h.start('shapes'))).toBe('ERR_SHUTTING_DOWN')
    })
    it('survives what ends the instance: an endless loop is killed, a throw in a timer and the heap limit are reported to onExit', async () => {
      const h = mk({ memoryMb: 64 })
      const looping = await h.start('shapes')
      const stuck = looping.run(packet({ do: 'loop' }))
      await looping.stop('kill')
      expect(await stuck).toEqual({ ok: false, emitted: [], error: 'the stage instance was killed' })
      const thrower = await h.start('shapes')
      const exits: string[] = []
      thrower.onExit(reason => exits.push(reason))
      expect(await thrower.run(packet({ do: 'throw-later' }))).toMatchObject({ ok: false, error: expect.stringContaining('thrown in a timer') })
      expect(exits).toEqual([expect.stringContaining('thrown in a timer')])
      const hog = await h.start('shapes')
      expect(await hog.run(packet({ do: 'oom' }))).toEqual({ ok: false, emitted: [], error: 'out of memory: the stage went past the 64 MB heap limit' })
      // This process (the peer, for a thread) is still here, and so is a new instance.
      expect(await (await h.start('shapes')).run(packet({ do: 'runs' }))).toEqual({ ok: true, emitted: [{ tag: 'out', payload: 1 }] })
    })

    it('runs where the seed says, whatever the host\'s default: its isolation export wins', async () => {
      const h = mk()
      const where = async (stage: string): Promise<{ pid: number, thread: number }> => (await (await h.start(stage)).run(packet({ do: 'where' }))).emitted[0].payload as { pid: number, thread: number }
      const inThread = (w: { pid: number, thread: number }): boolean => w.pid === process.pid && w.thread > 0
      const inChild = (w: { pid: number, thread: number }): boolean => w.pid !== process.pid && w.thread === 0
      expect(isolation === 'thread' ? inThread(await where('shapes')) : inChild(await where('shapes'))).toBe(true)
      expect(inThread(await where('in-thread'))).toBe(true)
      expect(inChild(await where('in-process'))).toBe(true)
    })
  })

  describe('a source instance', () => {
    it('advances its generator only as far as it was pulled (back-pressure), then ends', async () => {
      const instance = await mk().start('source')
      const count = async (): Promise<unknown> => (await instance.event('count', null)).emitted[0].payload
      expect(await count()).toBe(0) // not started before the first pull
      expect(await instance.pull!(3)).toEqual({
        items: [{ tag: 'side', payload: 'from the source' }, { tag: 'numbers', payload: 1 }, { tag: 'numbers', payload: 2 }, { tag: 'numbers', payload: 3 }],
        done: false
      })
      expect(await count()).toBe(3)
      const next = await instance.pull!(2)
      expect(next).toEqual({ items: [{ tag: 'numbers', payload: 4 }, { tag: 'numbers', payload: 5 }], done: false })
      expect(await count()).toBe(5)
      expect(await instance.pull!(10)).toEqual({ items: [{ tag: 'numbers', payload: 6 }, { tag: 'numbers', payload: 7 }], done: true })
      expect(await instance.pull!(10)).toEqual({ items: [], done: true })
      await instance.stop('drain')
      expect(texts()).toEqual(['source closed at 7', 'cleanup'])
    })

    it('returns what a slow source has at once rather than waiting for max items', async () => {
      const instance = await mk().start('slow-source')
      const first = await instance.pull!(100)
      expect(first.items.length).toBeGreaterThanOrEqual(1)
      expect(first.items.length).toBeLessThan(100)
      const second = await instance.pull!(100)
      const all = [...first.items, ...second.items].map(i => i.payload)
      expect(all).toEqual(all.map((_, i) => i + 1)) // in order, none lost between pulls
      await instance.stop('drain')
    })
  })
})

describe('an executable stage instance', () => {
  it('runs one process per packet: the packet as JSON on stdin, each stdout line a payload', async () => {
    const instance = await makeHost().start('echo')
    const p = packet({ hello: 'world' }, { key: 'k' })
    const out = await instance.run(p)
    expect(out.ok).toBe(true)
    expect(out.emitted).toEqual([
      { tag: 'echoed', payload: { ...p } },
      { tag: 'echoed', payload: 'second' },
      { tag: 'echoed', payload: 'plain text' },
      { tag: 'echoed', payload: Buffer.from('hi') }
    ])
    const bytes = await instance.run(packet(Buffer.from('raw')))
    expect(bytes.emitted[0].payload).toMatchObject({ payload: { $bytes: Buffer.from('raw').toString('base64') } })
    expect(await instance.event('flush', null)).toMatchObject({ ok: false })
    await instance.stop('drain')
  })

  it('fails a run that exits non-zero with the tail of stderr', async () => {
    const instance = await makeHost().start('fail')
    const p = packet({})
    expect(await instance.run(p)).toEqual({ ok: false, emitted: [], error: `bad input: ${p.id}` })
    expect(lines).toContainEqual(['fail', `bad input: ${p.id}`, 'stderr'])
  })
})
