// `npm run chaos`: the consistency check under faults, longer than the suite's.
// PMZ_CHAOS_PEERS (default 5), PMZ_CHAOS_SECONDS (default 180), PMZ_CHAOS_WRITERS (default 6).
import { runChaos } from '../helpers/chaos.js'
import { cleanupPeers } from '../helpers/peer.js'

const peers = Number(process.env.PMZ_CHAOS_PEERS ?? 5)
const seconds = Number(process.env.PMZ_CHAOS_SECONDS ?? 180)
const writers = Number(process.env.PMZ_CHAOS_WRITERS ?? 6)

let failed = true
try {
  const s = await runChaos({ peers, durationMs: seconds * 1000, writers, contenders: 3, partitions: true, upMs: [3_000, 8_000], downMs: [1_000, 6_000], settleMs: 120_000 })
  failed = s.violations.length > 0
  console.log(failed
    ? `chaos: FAILED, ${s.violations.length} violation(s)`
    : `chaos: OK, no violation over ${s.creates.ok} acknowledged creates (${s.creates.exists} duplicates refused), ${s.deletes.ok} deletes, ${s.kills} kills, ${s.partitions} partitions`)
} finally {
  await cleanupPeers()
}
process.exit(failed ? 1 : 0)
