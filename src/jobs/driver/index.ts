export { JobsDriver } from './jobs-driver.js'
export { JobsWorker } from './jobs-worker.js'
export { ScheduleDriver } from './schedule-driver.js'
export * from './types.js'
