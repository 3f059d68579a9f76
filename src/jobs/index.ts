// The jobs layer (DESIGN.md layer 8). So far: the replicated job table and
// its pure rules (placement, retries), and the worker-side runtime of one
// attempt (child processes); the coordinator's driver that commits the
// table's transitions, the launch and view routes and the CLI come next
// (issue 14).
export * from './table/index.js'
export * from './exec/index.js'
