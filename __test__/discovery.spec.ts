import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { candidates, findPython, InterpreterError, PynodeError, PythonNotFoundError } from '../js/index'
import { childJson, cpython, discoveryTree, libpythonOf, ROOT, runNode, VENV, VENV_SOURCE } from './_helpers'

const py312 = cpython('3.12')
const PY312 = py312?.executable ?? 'python3.12 (not installed)'

let tmp = ''
/** A virtualenv made by the test: `<tmp>/project/.venv`. */
let venv = ''
/** A directory with a .venv in it. */
let project = ''
/** An empty directory (no .venv). */
let empty = ''

test.before(() => {
  ;({ tmp, project, empty, venv } = discoveryTree('discovery'))
  writeFileSync(join(tmp, 'fake-python'), '#!/bin/sh\necho not json\n')
  chmodSync(join(tmp, 'fake-python'), 0o755)
})

test.after.always(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

/** What a child reports about the Python it started. */
interface Started {
  version: string
  executable: string
  prefix: string
  sysPrefix: string
  venv: boolean
  source: string
  libpython: string
  big: string
  kwCall: number
}

const REPORT = `
  const { python, kw } = pynode
  const i = python.info
  const m = python.module('probe', 'def f(a, *, b=0):\\n    return a * 10 + b + len([])')
  console.log(JSON.stringify({
    version: i.version, executable: i.executable, prefix: i.prefix, venv: i.venv, source: i.source, libpython: i.libpython,
    sysPrefix: python.eval('__import__("sys").prefix'),
    big: String(python.eval('2**70')),
    kwCall: m.callMethod('f', 4, kw({ b: 2 })),
  }))
`

function started(t: import('ava').ExecutionContext, options: Parameters<typeof runNode>[1]): Started {
  const result = runNode(REPORT, options)
  t.is(result.status, 0, result.stderr)
  const info = childJson<Started>(result)
  // Whatever Python it is, the one binding works against it.
  t.is(info.big, '1180591620717411303424')
  t.is(info.kwCall, 42)
  t.is(info.sysPrefix, info.prefix)
  return info
}

test('candidates() lists option, PYNODE_PYTHON, VIRTUAL_ENV, .venv, PATH in order', (t) => {
  const env = { PYNODE_PYTHON: '/opt/py/bin/python3', VIRTUAL_ENV: '/work/venv', PATH: '/usr/bin' }
  t.deepEqual(candidates({ executable: '/explicit/python' }, env, '/project'), [
    { source: 'option', path: '/explicit/python' },
    { source: 'PYNODE_PYTHON', path: '/opt/py/bin/python3' },
    { source: 'VIRTUAL_ENV', path: '/work/venv/bin/python' },
    { source: '.venv', path: '/project/.venv/bin/python' },
    { source: 'PATH', path: 'python3' },
  ])
})

const candidateRows: { name: string; options: { executable?: string }; env: NodeJS.ProcessEnv; sources: string[] }[] = [
  { name: 'nothing set', options: {}, env: {}, sources: ['.venv', 'PATH'] },
  { name: 'only PYNODE_PYTHON', options: {}, env: { PYNODE_PYTHON: '/p' }, sources: ['PYNODE_PYTHON', '.venv', 'PATH'] },
  { name: 'only VIRTUAL_ENV', options: {}, env: { VIRTUAL_ENV: '/v' }, sources: ['VIRTUAL_ENV', '.venv', 'PATH'] },
  { name: 'only the option', options: { executable: '/x' }, env: {}, sources: ['option', '.venv', 'PATH'] },
  {
    name: 'empty variables are ignored',
    options: { executable: '' },
    env: { PYNODE_PYTHON: '', VIRTUAL_ENV: '' },
    sources: ['.venv', 'PATH'],
  },
]

for (const row of candidateRows) {
  test(`candidates() with ${row.name}`, (t) => {
    const list = candidates(row.options, row.env, '/cwd')
    t.deepEqual(
      list.map((c) => c.source),
      row.sources,
    )
    t.is(list.find((c) => c.source === '.venv')?.path, '/cwd/.venv/bin/python')
  })
}

test('findPython() from the repo root picks its .venv (the matrix venv under test:matrix)', (t) => {
  const found = findPython()
  t.is(found.source, VENV_SOURCE)
  t.is(found.executable, join(VENV, 'bin', 'python'))
  t.is(found.programName, join(VENV, 'bin', 'python'))
  t.regex(found.version, /^3\.\d+\.\d+$/)
  t.true(existsSync(found.libpython), found.libpython)
})

test('findPython({ executable }) probes that python', (t) => {
  if (!py312) return t.fail('this test needs CPython 3.12 (pyenv or python3.12 on PATH)')
  const found = findPython({ executable: PY312 })
  t.is(found.source, 'option')
  t.is(found.executable, PY312)
  t.is(found.version, py312.version)
  t.is(found.libpython, libpythonOf(py312))
})

test('PYNODE_PYTHON pointing at a nonexistent path -> PythonNotFoundError listing it', (t) => {
  const missing = join(tmp, 'no', 'such', 'python3')
  process.env.PYNODE_PYTHON = missing
  try {
    const err = t.throws(() => findPython(), {
      instanceOf: PythonNotFoundError,
      code: 'ERR_PYNODE_PYTHON_NOT_FOUND',
    }) as PythonNotFoundError
    t.true(err instanceof InterpreterError)
    t.true(err instanceof PynodeError)
    t.is(err.name, 'PythonNotFoundError')
    t.true(err.message.includes(missing), err.message)
    t.true(err.message.includes('PYNODE_PYTHON'), err.message)
    t.true(err.message.includes(`  - PYNODE_PYTHON: ${missing}: no such file`), err.message)
    t.regex(err.message, /^pynode could not find a usable Python\. Tried, in order:\n/)
    t.regex(err.message, /\nFix: set PYNODE_PYTHON to a python executable/)
    // An explicit choice that fails is an error: the .venv is not tried after it.
    t.deepEqual(err.tried, [{ source: 'PYNODE_PYTHON', path: missing, problem: 'no such file' }])
  } finally {
    delete process.env.PYNODE_PYTHON
  }
})

const rejected: { name: string; executable: () => string; problem: RegExp; needs?: string }[] = [
  { name: 'a nonexistent file', executable: () => '/nonexistent/bin/python3', problem: /^no such file$/ },
  { name: 'a program that fails', executable: () => '/bin/false', problem: /^could not run it: / },
  {
    name: 'a program that prints something else',
    executable: () => join(tmp, 'fake-python'),
    problem: /^unexpected output from it: not json/,
  },
  {
    name: 'Python 3.8',
    executable: () => cpython('3.8')?.executable ?? '',
    problem: /^Python 3\.8\.\d+ is not supported \(pynode needs CPython 3\.9 or newer\)$/,
    needs: cpython('3.8')?.executable ?? '/python3.8-is-not-installed',
  },
]

for (const row of rejected) {
  if (row.needs && !existsSync(row.needs)) continue
  test(`findPython({ executable: ${row.name} }) -> PythonNotFoundError, no fallback`, (t) => {
    const executable = row.executable()
    const err = t.throws(() => findPython({ executable }), { instanceOf: PythonNotFoundError }) as PythonNotFoundError
    t.is(err.tried.length, 1)
    t.is(err.tried[0].source, 'option')
    t.is(err.tried[0].path, executable)
    t.regex(err.tried[0].problem, row.problem)
    t.true(err.message.includes(`  - option: ${executable}: ${err.tried[0].problem}`), err.message)
  })
}

test('a child with nothing usable lists .venv and PATH as tried', (t) => {
  const result = runNode(
    `try { pynode.python.start(); console.log('{}') } catch (e) {
       console.log(JSON.stringify({ name: e.name, code: e.code, tried: e.tried, message: e.message }))
     }`,
    { cwd: empty, env: { PATH: join(tmp, 'no-bin'), VIRTUAL_ENV: undefined } },
  )
  t.is(result.status, 0, result.stderr)
  const err = childJson<{ name: string; code: string; tried: { source: string; path: string; problem: string }[]; message: string }>(result)
  t.is(err.name, 'PythonNotFoundError')
  t.is(err.code, 'ERR_PYNODE_PYTHON_NOT_FOUND')
  t.deepEqual(err.tried, [
    { source: '.venv', path: join(empty, '.venv', 'bin', 'python'), problem: 'no such file' },
    { source: 'PATH', path: 'python3', problem: 'not found on PATH' },
  ])
})

test('PYNODE_PYTHON=python3.12 in a temp dir: one binary serves another CPython', (t) => {
  if (!py312) return t.fail('this test needs CPython 3.12 (pyenv or python3.12 on PATH)')
  const info = started(t, { cwd: empty, env: { PYNODE_PYTHON: PY312 } })
  t.regex(info.version, /^3\.12\.\d+$/)
  t.is(info.source, 'PYNODE_PYTHON')
  t.is(info.executable, PY312)
  t.is(info.prefix, py312.prefix)
  t.false(info.venv)
  t.is(info.libpython, libpythonOf(py312))
})

for (const minor of ['3.9', '3.10', '3.11', '3.13']) {
  const py = cpython(minor)
  if (!py) {
    test.skip(`the same binary embeds CPython ${minor} (not installed here)`, () => {})
    continue
  }
  test(`the same binary embeds CPython ${py.version}`, (t) => {
    const info = started(t, { cwd: empty, env: { PYNODE_PYTHON: py.executable } })
    t.is(info.version, py.version)
    t.is(info.source, 'PYNODE_PYTHON')
    t.is(info.libpython, libpythonOf(py))
  })
}

test('PYNODE_PYTHON set to a venv made by python3 -m venv: sys.prefix is that venv', (t) => {
  const info = started(t, { cwd: empty, env: { PYNODE_PYTHON: join(venv, 'bin', 'python') } })
  t.is(info.source, 'PYNODE_PYTHON')
  t.is(info.prefix, venv)
  t.true(info.venv)
  t.true(info.executable.startsWith(join(venv, 'bin', 'python')), info.executable)
})

test('VIRTUAL_ENV set to that venv, in a temp dir: it is picked', (t) => {
  const info = started(t, { cwd: empty, env: { VIRTUAL_ENV: venv } })
  t.is(info.source, 'VIRTUAL_ENV')
  t.is(info.prefix, venv)
  t.true(info.venv)
})

test('a .venv in the working directory is picked', (t) => {
  const info = started(t, { cwd: project, env: { VIRTUAL_ENV: undefined } })
  t.is(info.source, '.venv')
  t.is(info.prefix, venv)
})

test('VIRTUAL_ENV beats ./.venv, PYNODE_PYTHON beats both', (t) => {
  const virtualEnv = started(t, { cwd: project, env: { VIRTUAL_ENV: VENV } })
  t.is(virtualEnv.source, 'VIRTUAL_ENV')
  t.is(virtualEnv.prefix, VENV)
  const explicit = started(t, { cwd: project, env: { VIRTUAL_ENV: VENV, PYNODE_PYTHON: join(venv, 'bin', 'python') } })
  t.is(explicit.source, 'PYNODE_PYTHON')
  t.is(explicit.prefix, venv)
})

test('python.configure({ executable }) beats PYNODE_PYTHON; a bad one fails without fallback', (t) => {
  const configured = runNode(`pynode.python.configure({ executable: ${JSON.stringify(join(venv, 'bin', 'python'))} })\n${REPORT}`, {
    cwd: ROOT,
    env: { PYNODE_PYTHON: PY312 },
  })
  t.is(configured.status, 0, configured.stderr)
  const info = childJson<Started>(configured)
  t.is(info.source, 'option')
  t.is(info.prefix, venv)

  const bad = runNode(
    `const out = []
     try { pynode.python.configure({ executable: 5 }) } catch (e) { out.push(e.name + ': ' + e.message) }
     pynode.python.configure({ executable: '/nonexistent/python' })
     try { pynode.python.start() } catch (e) { out.push(e.name, JSON.stringify(e.tried)) }
     console.log(JSON.stringify(out))`,
    { cwd: ROOT },
  )
  t.is(bad.status, 0, bad.stderr)
  t.deepEqual(childJson(bad), [
    'InvalidArgumentError: executable must be a string, got number',
    'PythonNotFoundError',
    JSON.stringify([{ source: 'option', path: '/nonexistent/python', problem: 'no such file' }]),
  ])
})
