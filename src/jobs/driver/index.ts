export { JobsDriver } from './jobs-driver.js'
export { JobsWorker } from './jobs-worker.js'
export * from './types.js'
export { CommandBatcher } from './command-batcher.js'
