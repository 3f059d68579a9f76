/** One column of a table: its heading and how a row shows in it. */
export type Column<T> = [heading: string, cell: (row: T) => string]

/** Rows as aligned text columns under their headings, two spaces apart, one line each (no trailing blanks). */
export function formatTable<T> (columns: ReadonlyArray<Column<T>>, rows: readonly T[]): string {
  const cells = [columns.map(([h]) => h), ...rows.map(r => columns.map(([, f]) => f(r)))]
  const widths = columns.map((_, i) => Math.max(...cells.map(r => r[i].length)))
  return cells.map(r => `${r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`).join('')
}
