// `npm run chaos`: the lost-acknowledged-write check, longer than the suite's.
// PMZ_CHAOS_PEERS (default 5), PMZ_CHAOS_SECONDS (default 180), PMZ_CHAOS_WRITERS (default 6).
import { runChaos } from '../helpers/chaos.js'
import { cleanupPeers } from '../helpers/peer.js'

const peers = Number(process.env.PMZ_CHAOS_PEERS ?? 5)
const seconds = Number(process.env.PMZ_CHAOS_SECONDS ?? 180)
const writers = Number(process.env.PMZ_CHAOS_WRITERS ?? 6)

let failed = true
try {
  const s = await runChaos({ peers, durationMs: seconds * 1000, writers, upMs: [3_000, 8_000], downMs: [1_000, 6_000], settleMs: 120_000 })
  failed = s.lost.length > 0 || s.resurrected.length > 0
  console.log(failed ? 'chaos: FAILED' : `chaos: OK, lost=0 over ${s.writesAcked} acknowledged writes and ${s.deletesAcked} deletes, ${s.kills} kills`)
} finally {
  await cleanupPeers()
}
process.exit(failed ? 1 : 0)
