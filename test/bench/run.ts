// npm run bench [-- suite ...]: prints each suite's figures as ratios against a reference measured in the same run.
import { backupBench } from './backup.js'
import { batchBench } from './batch.js'
import { coordinatorBench } from './coordinator.js'
import { extensionsBench } from './extensions.js'
import { jobsBench } from './jobs.js'
import { meshSimBench } from './mesh-sim.js'
import { meshTransportBench } from './mesh-transport.js'
import { millionBench } from './million.js'
import { pipelinesBench } from './pipelines.js'
import { replicationSmallBench } from './replication-cpu.js'
import { replicationBench, replicationBigBench, replicationRepairBench } from './replication.js'
import { ringBench } from './ring.js'
import { schedulesBench } from './schedules.js'
import { storageBench } from './storage.js'

const SUITES: Record<string, () => Promise<void>> = {
  storage: storageBench,
  extensions: extensionsBench,
  'mesh-transport': meshTransportBench,
  'mesh-sim': meshSimBench,
  coordinator: coordinatorBench,
  ring: ringBench,
  replication: replicationBench,
  'replication-1kb': replicationSmallBench,
  'replication-1gib': replicationBigBench,
  'replication-repair': replicationRepairBench,
  million: millionBench,
  jobs: jobsBench,
  batch: batchBench,
  schedules: schedulesBench,
  pipelines: pipelinesBench,
  backup: backupBench
}

/** Suites too long for a plain `npm run bench`: run only when named. */
const OPT_IN = new Set(['million'])

const wanted = process.argv.slice(2)
for (const name of wanted.length > 0 ? wanted : Object.keys(SUITES).filter(s => !OPT_IN.has(s))) {
  const suite = SUITES[name]
  if (suite === undefined) {
    console.error(`unknown suite "${name}"; suites: ${Object.keys(SUITES).join(', ')}`)
    process.exit(2)
  }
  await suite()
}
