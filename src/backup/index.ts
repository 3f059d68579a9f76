// Backup and restore (issue 18): the whole cluster, or a prefix of it, to
// one tar archive and back (docs/backup.md). Streams both ways; a restore
// verifies the whole archive before it writes anything.
export type { ArchiveMeta, BackupSource, BackupTables, Manifest, RestoreReport, RestoreTarget, ScheduleRecord, TablesReport, Trailer } from './types.js'
export type { BackupInit } from './backup.js'
export type { RestoreInit } from './restore.js'
export type { PulzarScan } from './pulzar-dir.js'
export type { ArchiveVisitor } from './archive-reader.js'
export { createBackupStream, estimateBackup } from './backup.js'
export { clearSpool, restoreArchive } from './restore.js'
export { ArchiveReader, readArchive, skipEntries, verifyEntries } from './archive-reader.js'
export { pulzarDirArchive, pulzarFiles, pulzarKeyOf } from './pulzar-dir.js'
export { FORMAT, FORMAT_VERSION, MANIFEST_NAME, TRAILER_NAME, parseTables } from './format.js'
