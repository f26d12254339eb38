// Helpers every bench uses: the median, a header that says what ran (with the exact command
// to run it again), and an aligned table. Not a bench itself (bench/run.mjs runs *.bench.mjs).
import { cpus } from 'node:os'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { python } from 'pynode'

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Prints `# <title>`, the command, date, pynode, Python (plus `pythonExtra`) and Node. */
export function printHeader(title, pythonExtra = '') {
  const env = ['BENCH_QUICK', 'PYNODE_PYTHON', 'PYNODE_NATIVE_DIR', 'VIRTUAL_ENV', 'PYNODE_LOOP_SPIN_US']
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${process.env[k]}`)
  const rel = relative(process.cwd(), process.argv[1])
  const script = rel && !rel.startsWith('..') ? rel : process.argv[1]
  const info = python.info
  console.log(`# ${title}`)
  console.log(`command: cd ${process.cwd()} && ${[...env, 'node', ...process.execArgv, script].join(' ')}`)
  console.log(`date:    ${new Date().toISOString()}`)
  console.log(`pynode:  ${fileURLToPath(import.meta.resolve('pynode'))}`)
  console.log(`python:  ${info.version} (${info.executable}, found via ${info.source}${info.venv ? ', virtualenv' : ''})${pythonExtra}`)
  console.log(`node:    ${process.version} on ${process.platform}-${process.arch}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}`)
  console.log('')
}

/** Prints rows of strings as a table: the first row is the heading, the first column left-aligned. */
export function printTable(table) {
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)))
  for (const [i, row] of table.entries()) {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }
}
