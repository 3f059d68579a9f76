// The jobs layer (DESIGN.md layer 8): the replicated job table and its pure
// rules (placement, retries), the worker-side runtime of one attempt in
// child processes (`./exec/index.js`, whose AttemptOutcome is the worker's,
// not the table's), and the drivers that connect them (`./driver/`): the
// leader's JobsDriver places and re-queues, each worker's JobsWorker runs
// assignments and reports (issue 14). Schedules come next.
export * from './table/index.js'
export { createJobRunner, StoreJobData, outputKeyOf } from './exec/index.js'
export * from './driver/index.js'
export * from './schedule/index.js'
export type { AttemptSpec, AttemptEvents, JobRunner, JobRunnerComponents, JobRunnerInit, JobStore, JobEmit, JobEmitOptions, AttemptId, DataFile, JobData, StoreJobDataComponents, StoreJobDataInit } from './exec/index.js'
