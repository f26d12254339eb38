import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import test from 'ava'
import { InterpreterError, PynodeError, python } from '../js/index'
import { childJson, ROOT, runNode, VENV, VENV_SOURCE } from './_helpers'

test('python.info describes the .venv found from the repo root', (t) => {
  const info = python.info
  t.regex(info.version, /^3\.\d+\.\d+$/)
  t.deepEqual(info.versionInfo, info.version.split('.').map(Number))
  t.is(info.executable, join(VENV, 'bin', 'python'))
  t.is(info.prefix, VENV)
  t.not(info.basePrefix, info.prefix)
  t.true(info.venv)
  t.is(info.source, VENV_SOURCE)
  t.true(existsSync(info.libpython), info.libpython)
  const [major, minor] = info.versionInfo
  t.true(basename(info.libpython).startsWith(`libpython${major}.${minor}`), info.libpython)
})

test('python.start() returns the same info once running', (t) => {
  t.is(python.start(), python.info)
  t.is(python.start(), python.start())
})

test('sys inside Python agrees with python.info', (t) => {
  using sys = python.import('sys')
  t.is(sys.get('prefix'), python.info.prefix)
  t.is(sys.get('base_prefix'), python.info.basePrefix)
  t.is(sys.get('executable'), python.info.executable)
  t.deepEqual(python.eval('list(__import__("sys").version_info[:3])'), python.info.versionInfo)
})

test('numpy imports from the venv', (t) => {
  using np = python.import('numpy')
  const file = np.get('__file__') as string
  t.true(file.startsWith(join(VENV, 'lib')), file)
  t.regex(np.get('__version__') as string, /^\d+\.\d+/)
  t.is(python.eval('int(__import__("numpy").arange(5).sum())'), 10)
})

test('configure() after start throws InterpreterError', (t) => {
  python.start()
  for (const options of [{}, { executable: '/usr/bin/python3' }]) {
    const err = t.throws(() => python.configure(options), { instanceOf: InterpreterError, code: 'ERR_PYNODE_INTERPRETER' })
    t.true(err instanceof PynodeError)
    t.is(err?.name, 'InterpreterError')
    t.true(err?.message.includes(`Python ${python.info.version} is already running from ${python.info.executable}`), err?.message)
    t.regex(err?.message ?? '', /configure\(\) must come before first use/)
  }
})

test('Python installs no SIGINT handler of its own', (t) => {
  // None: the handler was not installed from Python (it would be default_int_handler).
  t.is(python.eval('__import__("signal").getsignal(__import__("signal").SIGINT)'), null)
})

// Node itself catches SIGINT and SIGTERM (to restore the terminal on exit), so SigCgt's SIGINT
// bit is set in any Node process: what matters is that starting Python changes nothing.
test('starting Python leaves the process signal dispositions untouched', (t) => {
  const result = runNode(`
    const mask = () => {
      const s = require('fs').readFileSync('/proc/self/status', 'utf8')
      return ['SigCgt', 'SigIgn'].map((f) => s.match(new RegExp('^' + f + ':\\\\s*(\\\\w+)$', 'm'))[1]).join(' ')
    }
    const before = mask()
    pynode.python.start()
    pynode.python.exec('import signal, time')
    console.log(JSON.stringify({ before, after: mask() }))
  `)
  t.is(result.status, 0, result.stderr)
  const { before, after } = childJson<{ before: string; after: string }>(result)
  t.is(after, before)
})

test('SIGINT still reaches Node after Python starts', (t) => {
  const handled = runNode(`
    pynode.python.start()
    process.on('SIGINT', () => { console.log('js got SIGINT'); process.exit(0) })
    process.kill(process.pid, 'SIGINT')
    setTimeout(() => { console.log('no SIGINT'); process.exit(1) }, 5000)
  `)
  t.is(handled.status, 0, handled.stderr)
  t.is(handled.stdout, 'js got SIGINT\n')
  // Without a listener, Node's default applies: the process dies of SIGINT.
  const unhandled = runNode(`
    pynode.python.exec('x = 1')
    process.kill(process.pid, 'SIGINT')
    setTimeout(() => { console.log('survived'); process.exit(0) }, 5000)
  `)
  t.is(unhandled.signal, 'SIGINT')
  t.is(unhandled.stdout, '')
})

const interleaving: { name: string; stream: 'stdout' | 'stderr'; script: string; expected: string }[] = [
  {
    name: 'print between console.log calls',
    stream: 'stdout',
    script: `console.log('a'); pynode.python.exec('print("b")'); console.log('c')`,
    expected: 'a\nb\nc\n',
  },
  {
    name: 'partial lines written by both sides',
    stream: 'stdout',
    script: `process.stdout.write('a'); pynode.python.exec('import sys; sys.stdout.write("b")'); process.stdout.write('c\\n')`,
    expected: 'abc\n',
  },
  {
    name: 'stderr: print(file=sys.stderr) between console.error calls',
    stream: 'stderr',
    script: `console.error('a'); pynode.python.exec('import sys; print("b", file=sys.stderr)'); console.error('c')`,
    expected: 'a\nb\nc\n',
  },
  {
    name: 'many alternations',
    stream: 'stdout',
    script: `for (let i = 0; i < 50; i++) { console.log('js' + i); pynode.python.exec('print("py' + i + '")') }`,
    expected: Array.from({ length: 50 }, (_, i) => `js${i}\npy${i}\n`).join(''),
  },
]

for (const row of interleaving) {
  test(`Python output interleaves with Node's when piped: ${row.name}`, (t) => {
    const result = runNode(row.script)
    t.is(result.status, 0, result.stderr)
    t.is(result[row.stream], row.expected)
  })
}

test('non-ASCII output in a UTF-8 locale', (t) => {
  const result = runNode(`console.log('é'); pynode.python.exec('print("é🎉")')`, {
    env: { LANG: 'C.UTF-8', LC_ALL: undefined, LC_CTYPE: undefined },
  })
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, 'é\né🎉\n')
})

test('non-ASCII output without a locale (C locale) prints UTF-8 like Node and python3', (t) => {
  const result = runNode(`console.log('é'); pynode.python.exec('print("é")')`, {
    env: { LANG: undefined, LC_ALL: undefined, LC_CTYPE: undefined },
  })
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, 'é\né\n')
})

test('a missing native binary is reported as a PynodeError with a code', (t) => {
  const emptyDir = mkdtempSync(join(tmpdir(), 'pynode-native-'))
  try {
    const result = runNode(
      `const { python, PynodeError } = require(${JSON.stringify(join(ROOT, 'build', 'js', 'index.js'))})
       try { python.start(); console.log('{}') } catch (e) {
         console.log(JSON.stringify({ pynode: e instanceof PynodeError, code: e.code, message: e.message }))
       }`,
      { env: { PYNODE_NATIVE_DIR: emptyDir } },
    )
    t.is(result.status, 0, result.stderr)
    const err = childJson<{ pynode: boolean; code?: string; message: string }>(result)
    t.regex(err.message, /native binaries pynode-loader\.(.+)\.node and pynode\.\1\.node not found; looked in PYNODE_NATIVE_DIR=/)
    // An explicit PYNODE_NATIVE_DIR is not second-guessed; the fix names the platform package.
    t.true(err.message.includes(emptyDir), err.message)
    t.regex(err.message, /npm install pynode-[a-z0-9]+-[a-z0-9]+/)
    t.true(err.pynode)
    t.is(err.code, 'ERR_PYNODE_NATIVE_NOT_FOUND')
  } finally {
    rmSync(emptyDir, { recursive: true, force: true })
  }
})
