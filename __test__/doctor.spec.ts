// `npx pynode doctor` (issue 5): which Python it would load and why, every candidate tried,
// libpython, venv, numpy, the binaries in use; exit status 1 when pynode cannot work.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { DoctorReport } from '../js/doctor'
import { type ChildOptions, NATIVE_DIR, ROOT, runNodeFile, VENV, VENV_SOURCE } from './_helpers'

const BIN = join(ROOT, 'bin', 'pynode.js')
let empty = ''
test.before(() => {
  empty = mkdtempSync(join(tmpdir(), 'pynode-doctor-'))
})
test.after.always(() => rmSync(empty, { recursive: true, force: true }))

const doctor = (args: string[], options: ChildOptions = {}) => runNodeFile(BIN, { ...options, args: ['doctor', ...args] })

test('in this repo: exit 0, the chosen Python, why, libpython, venv, numpy and the binaries', (t) => {
  const r = doctor([])
  t.is(r.status, 0, r.stderr)
  const why = VENV_SOURCE === '.venv' ? 'the current directory has a ./.venv' : 'a virtualenv is activated (VIRTUAL_ENV)'
  t.regex(r.stdout, new RegExp(`^python +\\d+\\.\\d+\\.\\d+, chosen because ${why.replace(/[().]/g, '\\$&')}$`, 'm'))
  t.regex(r.stdout, new RegExp(`^  sys.executable +${join(VENV, 'bin', 'python')}$`, 'm'))
  t.regex(r.stdout, /^ {2}libpython +\/.*libpython3\.\d+\.so/m)
  t.regex(r.stdout, new RegExp(`^  venv +yes, sys.prefix ${VENV} `, 'm'))
  t.regex(r.stdout, /^ {2}numpy +\d+\.\d+\.\d+ imports$/m)
  t.regex(r.stdout, new RegExp(`^binaries +PYNODE_NATIVE_DIR \\(custom build\\): ${NATIVE_DIR}$`, 'm'))
  t.regex(r.stdout, new RegExp(`^ {2}chosen +${VENV_SOURCE.replace('.', '\\.')} +${join(VENV, 'bin', 'python')}$`, 'm'))
  t.regex(r.stdout, /\nOK: pynode loads Python 3\.\d+\.\d+ from \//)
})

test('--json: the same facts as data', (t) => {
  const r = doctor(['--json'], { env: { PYNODE_NATIVE_DIR: undefined } })
  t.is(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout) as DoctorReport
  t.true(report.ok)
  t.deepEqual(report.native, { source: 'local', dir: NATIVE_DIR })
  t.is(report.chosen?.source, VENV_SOURCE)
  t.is(report.python?.prefix, VENV)
  t.true(report.python?.venv)
  t.truthy(report.numpy && 'version' in report.numpy)
  t.deepEqual(report.problems, [])
})

test('each rejected candidate is listed, in order, with what was wrong', (t) => {
  const r = doctor([], { cwd: empty, env: { VIRTUAL_ENV: '/nonexistent/venv', PATH: join(empty, 'no-bin') } })
  t.is(r.status, 1)
  t.regex(r.stdout, /^ {2}rejected +VIRTUAL_ENV +\/nonexistent\/venv\/bin\/python\n +-> no such file$/m)
  t.regex(r.stdout, new RegExp(`^  rejected +\\.venv +${join(empty, '.venv', 'bin', 'python')}\\n +-> no such file$`, 'm'))
  t.regex(r.stdout, /^ {2}rejected +PATH +python3\n +-> not found on PATH$/m)
  t.regex(r.stdout, /^PROBLEM: no usable Python\. Fix: set PYNODE_PYTHON/m)
  t.notRegex(r.stdout, /^OK:/m)
})

test('an explicit PYNODE_PYTHON that fails: exit 1, no fallback, the others "not tried"', (t) => {
  const r = doctor(['--json'], { env: { PYNODE_PYTHON: '/nonexistent/python3' } })
  t.is(r.status, 1)
  const report = JSON.parse(r.stdout) as DoctorReport
  t.false(report.ok)
  t.deepEqual(report.candidates[0], { source: 'PYNODE_PYTHON', path: '/nonexistent/python3', status: 'rejected', problem: 'no such file' })
  t.true(report.candidates.slice(1).every((c) => c.status === 'not tried'))
  t.regex(report.problems[0], /^PYNODE_PYTHON names a Python that cannot be used \(no such file\); pynode does not fall back/)
})

test('--python <exe> plays python.configure({ executable })', (t) => {
  const r = doctor(['--json', '--python', join(VENV, 'bin', 'python')], { cwd: empty })
  t.is(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout) as DoctorReport
  t.is(report.chosen?.source, 'option')
  t.is(report.python?.source, 'option')
  t.is(report.python?.prefix, VENV)
})

test('missing binaries: exit 1 and how to get them', (t) => {
  const r = doctor([], { env: { PYNODE_NATIVE_DIR: empty } })
  t.is(r.status, 1)
  t.regex(r.stdout, /^binaries +NOT FOUND: pynode: native binaries .* not found; looked in PYNODE_NATIVE_DIR=/m)
  t.regex(r.stdout, /^PROBLEM: .*npm install pynode-/m)
})

test('usage: no command prints help (exit 0), an unknown one exits 2', (t) => {
  const help = runNodeFile(BIN, {})
  t.is(help.status, 0)
  t.regex(help.stderr, /^usage: pynode doctor \[--python <executable>\] \[--json\]/)
  t.is(runNodeFile(BIN, { args: ['frobnicate'] }).status, 2)
})
