/** Keys asked per page of the store's listing. */
export const LIST_PAGE = 1000
/** Values up to this size are read ahead by a backup and written by a restore several at a time, held whole in memory; bytes. */
export const SMALL_VALUE_BYTES = 256 * 1024
/** Small values a backup reads ahead of the one it writes. */
export const PREFETCH_VALUES = 32
/** Small values a restore writes at once. */
export const RESTORE_CONCURRENCY = 8
