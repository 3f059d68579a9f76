// Schedules (issue 15): when a schedule fires (timing: Pulzar's and pmz's
// forms, cron through croner) and which due ticks fire now (firing-rules),
// pure. The schedules themselves live in the job table (table/schedule-book).
export { DEFAULT_MAX_CATCH_UP, MAX_CATCH_UP, MIN_EVERY_MS, nextTick, parseEvery, parseScheduled, ticksIn, type CatchUp, type Overlap, type Parsed, type ScheduleSpec, type Timing } from './timing.js'
export { MISSED_AFTER_MS, decideFirings, nextDecisionAt, type FiringDecision, type FiringState, type MissedRule } from './firing-rules.js'
export { DueQueue } from './due-queue.js'
