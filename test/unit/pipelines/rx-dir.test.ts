import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock, type Clock } from '../../../src/common/clock.js'
import { PmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { createRxDir, doneName, isSkippedName, type RxDir } from '../../../src/pipelines/rx-dir.js'
import type { InjectOptions, Payload } from '../../../src/pipelines/types.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })
const SETTLE_MS = 300

interface Injected { tag: string, payload: Payload, options: InjectOptions | undefined }

/** An inject that records its calls; `next` decides how the next call ends (resolve by default). */
function fakeInject (): { inject: (tag: string, payload: Payload, options?: InjectOptions) => Promise<string>, calls: Injected[], hold: () => { resolve: () => void, reject: (e: Error) => void } } {
  const calls: Injected[] = []
  let held: { promise: Promise<void>, resolve: () => void, reject: (e: Error) => void } | undefined
  return {
    calls,
    inject: async (tag, payload, options) => {
      calls.push({ tag, payload, options })
      const h = held
      held = undefined
      if (h !== undefined) await h.promise
      return `p1:${calls.length}`
    },
    hold: () => {
      let resolve!: () => void
      let reject!: (e: Error) => void
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
      promise.catch(() => {}) // rejected before the inject awaits it: not unhandled
      held = { promise, resolve, reject }
      return { resolve, reject }
    }
  }
}

describe('the rx directory', () => {
  const dirs: RxDir[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await d.stop()
    await cleanupPeers()
  })

  function setup (clock: Clock = new ManualClock(), watch = false): { dir: string, rx: RxDir, clock: Clock, fake: ReturnType<typeof fakeInject> } {
    const dir = tempDir('pmz-rx-')
    const fake = fakeInject()
    const rx = createRxDir({ inject: fake.inject, clock, log }, { dir, watch, settleMs: SETTLE_MS, retryMinMs: 1000, pollIntervalMs: watch ? 600_000 : 2000 })
    dirs.push(rx)
    return { dir, rx, clock, fake }
  }
  const drop = (dir: string, rel: string, content: string | Buffer): void => {
    mkdirSync(join(dir, rel, '..'), { recursive: true })
    writeFileSync(join(dir, rel), content)
  }
  /** Two scans a settle time apart: what a file needs to be taken. */
  async function settle (rx: RxDir, clock: ManualClock): Promise<void> {
    await rx.scan()
    clock.advance(SETTLE_MS)
    await rx.scan()
  }
  const done = (dir: string): string[] => readdirSync(join(dir, 'done')).sort()

  it('injects a .json file as its parsed value and moves it to done/ only once the inject resolved', async () => {
    const { dir, rx, clock, fake } = setup()
    await rx.start()
    drop(dir, 'greet/hello.json', '{"name":"Mars"}')
    const pending = fake.hold()
    await rx.scan()
    expect(fake.calls).toEqual([]) // seen once: maybe still being written
    ;(clock as ManualClock).advance(SETTLE_MS)
    await rx.scan()
    expect(fake.calls.length).toBe(1)
    expect(fake.calls[0]).toEqual({ tag: 'greet', payload: { name: 'Mars' }, options: { headers: { filename: 'hello.json' }, until: 'acked' } })
    await rx.scan()
    expect(existsSync(join(dir, 'greet/hello.json'))).toBe(true)
    expect(done(dir)).toEqual([])
    pending.resolve()
    await expect.poll(() => done(dir)).toEqual(['hello.json'])
    expect(existsSync(join(dir, 'greet/hello.json'))).toBe(false)
    await settle(rx, clock as ManualClock)
    expect(fake.calls.length).toBe(1)
  })

  it('injects any other file as its bytes', async () => {
    const { dir, rx, clock, fake } = setup()
    await rx.start()
    const bytes = Buffer.from([0, 159, 146, 150])
    drop(dir, 'raw/blob.bin', bytes)
    await settle(rx, clock as ManualClock)
    await expect.poll(() => done(dir)).toEqual(['blob.bin'])
    expect(Buffer.isBuffer(fake.calls[0].payload)).toBe(true)
    expect((fake.calls[0].payload as Buffer).equals(bytes)).toBe(true)
  })

  it('leaves a file whose inject failed in place and tries it again after a backoff', async () => {
    const { dir, rx, clock, fake } = setup()
    const manual = clock as ManualClock
    await rx.start()
    drop(dir, 'greet/a.txt', 'x')
    fake.hold().reject(new PmzError('ERR_NOT_FOUND', 'no stage consumes tag greet'))
    await settle(rx, manual)
    expect(fake.calls.length).toBe(1)
    manual.advance(500)
    await rx.scan()
    expect(fake.calls.length).toBe(1)
    expect(existsSync(join(dir, 'greet/a.txt'))).toBe(true)
    expect(done(dir)).toEqual([])
    manual.advance(500)
    await rx.scan()
    expect(fake.calls.length).toBe(2)
    await expect.poll(() => done(dir)).toEqual(['a.txt'])
    expect(fake.calls.length).toBe(2)
  })

  it('does not take a file still being written, nor .tmp and dot-files until they are renamed', async () => {
    const { dir, rx, clock, fake } = setup()
    const manual = clock as ManualClock
    await rx.start()
    drop(dir, 'greet/big.txt', 'part one;')
    drop(dir, 'greet/next.json.tmp', '{"half":')
    drop(dir, 'greet/.hidden', 'x')
    await rx.scan()
    manual.advance(SETTLE_MS)
    appendFileSync(join(dir, 'greet/big.txt'), 'part two')
    await rx.scan()
    manual.advance(SETTLE_MS - 1)
    await rx.scan()
    expect(fake.calls).toEqual([])
    manual.advance(1)
    await rx.scan()
    expect(fake.calls.length).toBe(1)
    expect((fake.calls[0].payload as Buffer).toString()).toBe('part one;part two')

    writeFileSync(join(dir, 'greet/next.json.tmp'), '{"half":false}')
    manual.advance(60_000)
    await rx.scan()
    expect(fake.calls.length).toBe(1)
    renameSync(join(dir, 'greet/next.json.tmp'), join(dir, 'greet/next.json'))
    await settle(rx, manual)
    await expect.poll(() => done(dir)).toEqual(['big.txt', 'next.json'])
    expect(fake.calls[1].payload).toEqual({ half: false })
    expect(existsSync(join(dir, 'greet/.hidden'))).toBe(true)
  })

  it('keeps every name in done/, making one unique on a clash', async () => {
    const { dir, rx, clock } = setup()
    await rx.start()
    drop(dir, 'a/same.json', '1')
    drop(dir, 'b/same.json', '2')
    drop(dir, 'done/same-1.json', 'someone else\'s')
    await settle(rx, clock as ManualClock)
    await expect.poll(() => done(dir)).toEqual(['same-1.json', 'same-2.json', 'same.json'])
    expect(readFileSync(join(dir, 'done/same.json'), 'utf8')).toBe('1')
    expect(readFileSync(join(dir, 'done/same-2.json'), 'utf8')).toBe('2')
    expect(doneName('archive.tar.gz', 3)).toBe('archive.tar-3.gz')
    expect(doneName('README', 1)).toBe('README-1')
    expect([isSkippedName('.x'), isSkippedName('a.tmp'), isSkippedName('a.PART'), isSkippedName('a.json')]).toEqual([true, true, true, false])
  })

  it('ignores files at the top, in done/ and in deeper directories', async () => {
    const { dir, rx, clock, fake } = setup()
    await rx.start()
    drop(dir, 'loose.json', '1')
    drop(dir, 'done/old.json', '2')
    drop(dir, 'greet/sub/deep.json', '3')
    await settle(rx, clock as ManualClock)
    await (clock as ManualClock).advanceAsync(10_000)
    await rx.scan()
    expect(fake.calls).toEqual([])
  })

  it('leaves a .json file that is not JSON until it is fixed', async () => {
    const { dir, rx, clock, fake } = setup()
    const manual = clock as ManualClock
    await rx.start()
    drop(dir, 'greet/broken.json', '{nope')
    await settle(rx, manual)
    manual.advance(60_000)
    await rx.scan()
    expect(fake.calls).toEqual([])
    writeFileSync(join(dir, 'greet/broken.json'), '{"fixed":true}')
    await settle(rx, manual)
    await expect.poll(() => done(dir)).toEqual(['broken.json'])
    expect(fake.calls.map(c => c.payload)).toEqual([{ fixed: true }])
  })

  it('takes a dropped file soon, by fs.watch, without waiting for the poll', async () => {
    const { dir, rx, fake } = setup(systemClock, true)
    await rx.start()
    drop(dir, 'greet/hello.json', '{"name":"World"}')
    await expect.poll(() => done(dir), { timeout: 5000 }).toEqual(['hello.json'])
    expect(fake.calls.map(c => c.payload)).toEqual([{ name: 'World' }])
  })
})
