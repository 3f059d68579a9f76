// A snapshot larger than one transport frame (4 MiB) reaches a follower over
// real ZeroMQ: the state machine's data travels as the request's byte stream.
// (Found by the batch benchmark: a follower that fell behind a job table of
// 10,000 tasks could never catch up again, and the cluster lost its quorum
// whenever the leader slowed down.)
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { createCoordinator } from '../../../src/coordinator/index.js'
import { ClusterConfigMachine } from '../../../src/coordinator/cluster-config-machine.js'
import { MAX_FRAME_BYTES, createTransport, type Transport } from '../../../src/mesh/transport/index.js'
import { MemoryRaftStorage } from '../../../src/coordinator/storage.js'

const silent = createLogger({ level: 'silent' })

interface Member { id: string, transport: Transport, co: ReturnType<typeof createCoordinator<unknown, unknown>>, machine: ClusterConfigMachine }
let members: Member[] = []
afterEach(async () => {
  for (const m of members) { await m.co.stop(); await m.transport.stop() }
  members = []
})

async function member (id: string, init: { voters?: Array<{ peerId: string, address: string }>, bootstrap?: boolean }): Promise<Member> {
  const transport = createTransport({ clock: systemClock, log: silent }, { peerId: id, host: '127.0.0.1', port: 0, clusterKey: 'snap-key' })
  await transport.start()
  const machine = new ClusterConfigMachine()
  const co = createCoordinator({ transport, clock: systemClock, log: silent }, { storage: new MemoryRaftStorage(), snapshotThreshold: 4, ...init }, machine as never)
  await co.start()
  const m = { id, transport, co, machine }
  members.push(m)
  return m
}

async function until (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('InstallSnapshot over ZeroMQ', () => {
  it('brings a new learner up from a snapshot of more than 4 MiB', async () => {
    const a = await member('a', { bootstrap: true })
    await until(() => a.co.isLeader(), 5_000, 'a to lead')
    // 12 values of 512 KiB: 6 MiB of state, compacted into a snapshot (threshold 4 entries).
    const chunk = 'x'.repeat(512 * 1024)
    for (let i = 0; i < 12; i++) await a.co.propose({ op: 'set', key: `k${i}`, value: `${i}:${chunk}` }, { timeoutMs: 10_000 })
    expect(a.co.status().snapshotIndex).toBeGreaterThan(4)
    expect(a.machine.snapshot().byteLength).toBeGreaterThan(MAX_FRAME_BYTES)
    const b = await member('b', {})
    await a.co.addLearner('b', b.transport.address(), { timeoutMs: 20_000 })
    await until(() => b.co.lastApplied() === a.co.lastApplied(), 20_000, 'b to catch up')
    expect(b.co.status().snapshotIndex).toBeGreaterThan(4)
    for (let i = 0; i < 12; i++) expect(b.machine.get(`k${i}`)).toBe(`${i}:${chunk}`)
  }, 40_000)
})
