/**
 * `npx pynode doctor`: which Python pynode would load in this directory and why, every
 * candidate looked at (and what was wrong with the rejected ones), the native binaries in use,
 * and whether the interpreter really starts and imports numpy. It starts Python in this process,
 * exactly as an application would.
 */
import { type Candidate, candidates, discover, type FoundPython, type PythonSource } from './discovery'
import { InvalidArgumentError, PythonError } from './errors'
import { locateNative, type NativeLocation, platformSuffix } from './native'
import { type PythonInfo, python } from './python'

/** What discovery did with one candidate. */
export interface DoctorCandidate extends Candidate {
  status: 'rejected' | 'chosen' | 'not tried'
  /** Why it was rejected. */
  problem?: string
}

/** Everything `pynode doctor` found out; `ok` is false when pynode cannot work here. */
export interface DoctorReport {
  ok: boolean
  node: string
  /** napi-rs platform suffix, e.g. `linux-x64-gnu`. */
  platform: string
  native: NativeLocation | { error: string }
  candidates: DoctorCandidate[]
  /** The Python discovery chose, and why. */
  chosen?: FoundPython & { reason: string }
  /** The running interpreter, once started. */
  python?: PythonInfo
  numpy: { version: string } | { error: string } | null
  /** What stops pynode from working here (each with its fix). Empty when `ok`. */
  problems: string[]
}

/** Why a candidate from `source` is chosen when it works. */
export const REASONS: Record<PythonSource, string> = {
  option: 'it was given explicitly (--python / python.configure({ executable }))',
  PYNODE_PYTHON: 'PYNODE_PYTHON is set',
  VIRTUAL_ENV: 'a virtualenv is activated (VIRTUAL_ENV)',
  CONDA_PREFIX: 'a conda environment is activated (CONDA_PREFIX)',
  '.venv': 'the current directory has a ./.venv',
  uv: 'uv chose it (`uv python find --system`)',
  PATH: 'it is the python3 on PATH',
}

const message = (e: unknown) => (e instanceof PythonError ? `${e.type}: ${e.message}` : e instanceof Error ? e.message : String(e))

/** Runs every check; never throws. `executable` plays the part of `python.configure({ executable })`. */
export function doctor(options: { executable?: string } = {}): DoctorReport {
  const problems: string[] = []
  const { found, tried } = discover(options)
  const list: DoctorCandidate[] = candidates(options).map((c, i) => {
    if (i < tried.length) return { ...c, status: 'rejected', problem: tried[i].problem }
    return { ...c, status: found && i === tried.length ? 'chosen' : 'not tried' }
  })
  let native: DoctorReport['native']
  try {
    native = locateNative()
  } catch (e) {
    native = { error: message(e) }
    problems.push(message(e))
  }
  const report: DoctorReport = {
    ok: false,
    node: process.version,
    platform: platformSuffix(),
    native,
    candidates: list,
    numpy: null,
    problems,
  }
  if (!found) {
    const last = tried[tried.length - 1]
    problems.push(
      last && (last.source === 'option' || last.source === 'PYNODE_PYTHON')
        ? `${last.source === 'option' ? '--python' : 'PYNODE_PYTHON'} names a Python that cannot be used (${last.problem}); ` +
            'pynode does not fall back to another Python when one is chosen explicitly. Fix: point it at a working python, or unset it.'
        : 'no usable Python. Fix: set PYNODE_PYTHON to a python executable, activate a virtualenv or conda environment, ' +
            'create ./.venv, or put python3 on PATH; a Python without a shared libpython needs one (see the candidates above).',
    )
    return report
  }
  report.chosen = { ...found, reason: REASONS[found.source] }
  if ('error' in native) return report
  try {
    if (options.executable) python.configure({ executable: options.executable })
    report.python = python.start()
  } catch (e) {
    problems.push(`Python ${found.version} did not start: ${message(e)}`)
    return report
  }
  try {
    report.numpy = { version: String(python.eval('__import__("numpy").__version__')) }
  } catch (e) {
    report.numpy = { error: message(e) }
  }
  report.ok = problems.length === 0
  return report
}

const pad = (s: string, n: number) => s.padEnd(n)

/** The report as text for a terminal. */
export function formatDoctor(r: DoctorReport): string {
  const out: string[] = ['pynode doctor', '']
  out.push(`${pad('node', 18)}${r.node} (${r.platform})`)
  if ('error' in r.native) out.push(`${pad('binaries', 18)}NOT FOUND: ${r.native.error}`)
  else {
    const from =
      r.native.source === 'package'
        ? `platform package ${r.native.packageName}`
        : r.native.source === 'local'
          ? 'local build (native/)'
          : 'PYNODE_NATIVE_DIR (custom build)'
    out.push(`${pad('binaries', 18)}${from}: ${r.native.dir}`)
  }
  if (r.chosen) {
    out.push(`${pad('python', 18)}${r.chosen.version}, chosen because ${r.chosen.reason}`)
    out.push(`${pad('  found as', 18)}${r.chosen.executable}`)
  }
  if (r.python) {
    const p = r.python
    out.push(`${pad('  sys.executable', 18)}${p.executable}`)
    out.push(`${pad('  libpython', 18)}${p.libpython}`)
    out.push(`${pad('  venv', 18)}${p.venv ? `yes, sys.prefix ${p.prefix} (base ${p.basePrefix})` : `no, sys.prefix ${p.prefix}`}`)
    const numpy = r.numpy && ('version' in r.numpy ? `${r.numpy.version} imports` : `does not import (${r.numpy.error})`)
    out.push(`${pad('  numpy', 18)}${numpy}`)
  }
  out.push('', 'candidates, in the order pynode tries them:')
  const width = Math.max(...r.candidates.map((c) => c.source.length))
  for (const c of r.candidates) {
    out.push(`  ${pad(c.status, 9)}  ${pad(c.source, width)}  ${c.path}`)
    if (c.problem) out.push(`${' '.repeat(15 + width)}-> ${c.problem}`)
  }
  out.push('')
  if (r.ok && r.python) out.push(`OK: pynode loads Python ${r.python.version} from ${r.python.libpython}`)
  else for (const p of r.problems) out.push(`PROBLEM: ${p}`)
  return `${out.join('\n')}\n`
}

/** `pynode doctor [--python <exe>] [--json]`; returns the exit status (1 when pynode cannot work). */
export function doctorCommand(args: string[], write: (s: string) => void = (s) => process.stdout.write(s)): number {
  const i = args.indexOf('--python')
  if (i >= 0 && !args[i + 1]) throw new InvalidArgumentError('--python needs the path of a python executable')
  const report = doctor(i >= 0 ? { executable: args[i + 1] } : {})
  write(args.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report))
  return report.ok ? 0 : 1
}
