// The jobs layer (DESIGN.md layer 8). For now: the replicated job table and
// its pure rules (placement, retries); the catalog, the workers and the
// coordinator's driver come next (issue 14).
export * from './table/index.js'
