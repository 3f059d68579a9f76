// The jobs layer (DESIGN.md layer 8). So far: the replicated job table and
// its pure rules (placement, retries), and the worker-side runtime of one
// attempt in child processes (`./exec/index.js`, whose AttemptOutcome is the
// worker's, not the table's); the coordinator's driver that commits the
// table's transitions, the launch and view routes and the CLI come next
// (issue 14).
export * from './table/index.js'
export { createJobRunner } from './exec/index.js'
export * from './driver/index.js'
export type { AttemptSpec, AttemptEvents, JobRunner, JobRunnerComponents, JobRunnerInit, JobStore } from './exec/index.js'
