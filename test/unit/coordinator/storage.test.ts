import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { seededRandom } from '../../../src/common/random.js'
import { ClusterConfigMachine, LmdbRaftStorage, MemoryRaftStorage, createCoordinator, type Entry, type RaftStorage } from '../../../src/coordinator/index.js'
import { MemoryNetwork } from '../../../src/mesh/transport/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), `pmz-raft-${process.pid}-`)) })
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

const cmd = (index: number, term: number, byte = index): Entry => ({ index, term, type: 'cmd', data: new Uint8Array([byte, 1, 2]) })
const config = { voters: { a: 'a:1' }, learners: { l: 'l:1' } }

/** One contract for both storages (the in-memory one must not be more forgiving than LMDB). */
function contract (name: string, open: () => RaftStorage, reopen: () => RaftStorage): void {
  describe(`${name} raft storage`, () => {
    it('round-trips hard state, entries, truncation and snapshots across a reopen', async () => {
      let s = open()
      expect(s.load()).toEqual({ hard: { term: 0, votedFor: null }, snapshot: undefined, entries: [] })
      s.write({ hard: { term: 3, votedFor: 'b' }, entries: [cmd(1, 1), { index: 2, term: 1, type: 'config', config }, { index: 3, term: 2, type: 'noop' }, cmd(4, 2)] })
      s.write({ truncateFrom: 4, entries: [cmd(4, 3, 99), cmd(5, 3)] })
      await s.close()
      s = reopen()
      let state = s.load()
      expect(state.hard).toEqual({ term: 3, votedFor: 'b' })
      expect(state.entries.map(e => [e.index, e.term, e.type])).toEqual([[1, 1, 'cmd'], [2, 1, 'config'], [3, 2, 'noop'], [4, 3, 'cmd'], [5, 3, 'cmd']])
      expect(Array.from((state.entries[3] as { data: Uint8Array }).data)).toEqual([99, 1, 2])
      expect(state.entries[1]).toEqual({ index: 2, term: 1, type: 'config', config })
      // Compaction keeps the suffix; installing a foreign snapshot drops everything.
      s.write({ snapshot: { index: 3, term: 2, config, data: new Uint8Array([7, 7]) } })
      state = s.load()
      expect(state.entries.map(e => e.index)).toEqual([4, 5])
      expect(state.snapshot).toMatchObject({ index: 3, term: 2, config })
      expect(Array.from(state.snapshot!.data)).toEqual([7, 7])
      s.write({ snapshot: { index: 10, term: 4, config, data: new Uint8Array([8]) }, truncateFrom: 11 })
      await s.close()
      s = reopen()
      state = s.load()
      expect(state.entries).toEqual([])
      expect(state.snapshot?.index).toBe(10)
      s.write({ entries: [cmd(11, 4)] })
      expect(s.load().entries.map(e => e.index)).toEqual([11])
      await s.close()
    })
  })
}

let memory: MemoryRaftStorage | undefined
contract('memory', () => (memory = new MemoryRaftStorage()), () => memory as MemoryRaftStorage)
contract('LMDB', () => new LmdbRaftStorage({ dir }), () => new LmdbRaftStorage({ dir }))

describe('coordinator on LMDB', () => {
  it('a one-voter coordinator restarts from its data directory with its state', async () => {
    const clock = new ManualClock()
    const net = new MemoryNetwork({ clock })
    const log = pino({ level: 'silent' })
    const boot = async (bootstrap: boolean): Promise<{ stop: () => Promise<void>, co: ReturnType<typeof createCoordinator<unknown, unknown>>, machine: ClusterConfigMachine }> => {
      const transport = net.createTransport('solo')
      await transport.start()
      const machine = new ClusterConfigMachine()
      const co = createCoordinator({ transport, clock, log, random: seededRandom(1) }, { dataDir: join(dir, 'raft'), bootstrap, snapshotThreshold: 20 }, machine as never)
      await co.start()
      return { co, machine, stop: async () => { await co.stop(); await transport.stop() } }
    }
    let node = await boot(true)
    await clock.advanceAsync(10)
    expect(node.co.isLeader()).toBe(true)
    for (let i = 0; i < 30; i++) {
      const p = node.co.propose({ op: 'incr', key: 'n' })
      await clock.advanceAsync(1)
      expect((await p).result).toBe(i + 1)
    }
    const term = node.co.term()
    await node.stop()
    node = await boot(false) // no bootstrap needed: the configuration is in the log
    expect(node.co.term()).toBe(term + 1) // kept its term, then (sole voter) elected itself at once in the next one
    expect(node.co.status().snapshotIndex).toBeGreaterThan(0)
    await clock.advanceAsync(1_500)
    expect(node.co.isLeader()).toBe(true)
    expect(node.machine.counter('n')).toBe(30)
    await node.stop()
  })
})
