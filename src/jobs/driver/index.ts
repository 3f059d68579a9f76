export { JobsDriver } from './jobs-driver.js'
export { JobsWorker } from './jobs-worker.js'
export { HistoryPruner, PRUNE_INTERVAL_MS } from './history-pruner.js'
export * from './types.js'
